"""Deterministic, realistic seed data for a home-service business (no Faker).

``build_seed(cfg)`` returns a :class:`SeedData`; the same seed and sizes give the same data.
The first client is always John Smith (Austin TX, mobile, SMS allowed) with the active job #1042
"Water Heater Installation" whose visit is assigned to the first user, Mike Thompson.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .config import SandboxConfig
from .models import (
    Account,
    Client,
    Email,
    Expense,
    Invoice,
    InvoiceLineItem,
    Job,
    LineItem,
    Payment,
    Phone,
    Property,
    Quote,
    QuoteLineItem,
    QuoteNote,
    Request,
    Tag,
    Task,
    User,
    Visit,
)

FIRST_NAMES = (
    "James Mary Robert Patricia Michael Jennifer William Linda David Elizabeth Richard Barbara Joseph Susan "
    "Thomas Jessica Charles Sarah Christopher Karen Daniel Lisa Matthew Nancy Anthony Betty Mark Sandra "
    "Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian "
    "Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan "
    "Amy Jacob Angela Gary Olivia Nicholas Emma Eric Sophia Jonathan Isabella Priya Wei Carlos Lucia "
    "Mohammed Fatima Hiroshi Yuki Diego Camila Liam Chloe Noah Ava Ethan Mia Raj Ananya Tyler Megan"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Patel Kim Chen Singh O'Brien MacDonald "
    "Tremblay Gagnon Roy Cote Bouchard Wong Tanaka Murphy Kelly Sullivan Walsh Brooks Price Bennett Wood "
    "Barnes Ross Henderson Coleman Jenkins Perry Powell Long Patterson Hughes Fischer Novak Kowalski"
).split()
TECHNICIANS = (
    ("Mike", "Thompson"),
    ("Sarah", "Nguyen"),
    ("Carlos", "Ramirez"),
    ("Emily", "Johnson"),
    ("David", "Kim"),
    ("Jessica", "Patel"),
    ("Brian", "O'Connor"),
    ("Aisha", "Mohammed"),
    ("Tyler", "Brooks"),
    ("Megan", "Walsh"),
)
COMPANY_WORDS = (
    "Maple",
    "Summit",
    "Riverside",
    "Oakwood",
    "Lakeview",
    "Pinecrest",
    "Harbor",
    "Sunrise",
    "Cedar",
    "Granite",
    "Willow",
    "Northgate",
    "Bluebird",
    "Silver Creek",
    "Prairie",
    "Evergreen",
)
COMPANY_KINDS = (
    "Property Management",
    "Dental Clinic",
    "Bakery",
    "Apartments",
    "Law Office",
    "Fitness Studio",
    "Realty",
    "Veterinary Hospital",
    "Coffee Co.",
    "Auto Repair",
    "Condominiums",
    "Daycare",
)
COMPANY_SUFFIX = ("LLC", "Inc.", "Ltd.", "Co.", "")

# city, province, country, timezone, area codes, postal prefixes, lat, lon
CITIES: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...], float, float], ...] = (
    ("Austin", "TX", "United States", "America/Chicago", ("512", "737"), ("787",), 30.27, -97.74),
    (
        "New York",
        "NY",
        "United States",
        "America/New_York",
        ("212", "646", "917"),
        ("100", "101"),
        40.71,
        -74.0,
    ),
    ("Toronto", "ON", "Canada", "America/Toronto", ("416", "647"), ("M5V", "M4C", "M6H"), 43.65, -79.38),
    ("Chicago", "IL", "United States", "America/Chicago", ("312", "773"), ("606",), 41.88, -87.63),
    ("Denver", "CO", "United States", "America/Denver", ("303", "720"), ("802",), 39.74, -104.99),
    ("Phoenix", "AZ", "United States", "America/Phoenix", ("602", "480"), ("850",), 33.45, -112.07),
    ("Seattle", "WA", "United States", "America/Los_Angeles", ("206",), ("981",), 47.61, -122.33),
    ("Vancouver", "BC", "Canada", "America/Vancouver", ("604", "778"), ("V6B", "V5K", "V6K"), 49.28, -123.12),
    ("Honolulu", "HI", "United States", "Pacific/Honolulu", ("808",), ("968",), 21.31, -157.86),
    ("Halifax", "NS", "Canada", "America/Halifax", ("902",), ("B3H", "B3K", "B3L"), 44.65, -63.58),
)
STREET_NAMES = (
    "Oak",
    "Maple",
    "Cedar",
    "Elm",
    "Pine",
    "Lakeshore",
    "Highland",
    "Sunset",
    "Park",
    "Washington",
    "Lincoln",
    "Church",
    "Mill",
    "River",
    "Hillcrest",
    "Meadow",
    "Forest",
    "Spring",
    "Willow",
    "Chestnut",
    "King",
    "Queen",
    "College",
    "Broadway",
    "Congress",
    "Barton Springs",
    "Lamar",
    "Harbor",
    "Ridge",
)
STREET_KINDS = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Ct", "Way", "Pl", "Cres")
# title, typical price
JOB_TITLES: tuple[tuple[str, float], ...] = (
    ("Water Heater Installation", 1850.0),
    ("Drain Cleaning", 225.0),
    ("Lawn Aeration", 140.0),
    ("Gutter Cleaning", 180.0),
    ("AC Tune-Up", 129.0),
    ("Furnace Repair", 420.0),
    ("Leaky Faucet Repair", 165.0),
    ("Sump Pump Replacement", 780.0),
    ("Window Washing", 260.0),
    ("Deep House Cleaning", 320.0),
    ("Spring Yard Cleanup", 380.0),
    ("Weekly Lawn Mowing", 55.0),
    ("Hedge Trimming", 210.0),
    ("Garbage Disposal Install", 310.0),
    ("Toilet Replacement", 540.0),
    ("Dryer Vent Cleaning", 150.0),
    ("Pressure Washing - Driveway", 275.0),
    ("Snow Removal", 95.0),
    ("Irrigation System Startup", 120.0),
    ("Ceiling Fan Installation", 245.0),
    ("Carpet Steam Cleaning", 290.0),
    ("Pest Control Treatment", 175.0),
    ("Mulch Installation", 460.0),
    ("Thermostat Upgrade", 230.0),
)
JOB_STATUS_WEIGHTS = (
    ("archived", 25),
    ("requires_invoicing", 14),
    ("active", 18),
    ("upcoming", 16),
    ("today", 5),
    ("late", 5),
    ("action_required", 5),
    ("on_hold", 3),
    ("unscheduled", 6),
    ("expiring_within_30_days", 3),
)
INVOICE_STATUSES = ("draft", "awaiting_payment", "paid", "past_due", "bad_debt", "sent_not_due")
INVOICE_WEIGHTS = (10, 20, 45, 10, 5, 10)
QUOTE_STATUSES = ("draft", "awaiting_response", "archived", "approved", "converted", "changes_requested")
QUOTE_WEIGHTS = (15, 30, 10, 20, 20, 5)
REQUEST_STATUSES = ("new", "completed", "converted", "archived", "upcoming", "overdue", "unscheduled")
TAGS = ("VIP", "Residential", "Commercial", "Referral", "Repeat Customer", "Annual Maintenance", "Pets")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
INVOICE_CUM = tuple(itertools.accumulate(INVOICE_WEIGHTS))
QUOTE_CUM = tuple(itertools.accumulate(QUOTE_WEIGHTS))
PAYMENT_KINDS = (
    "CreditCardPaymentRecord",
    "CheckPaymentRecord",
    "CashPaymentRecord",
    "BankTransferPaymentRecord",
)


@dataclass
class SeedData:
    account: Account
    app_id: str
    users: list[User] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    emails: list[Email] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    line_items: list[LineItem] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    quote_notes: list[QuoteNote] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    expenses: list[Expense] = field(default_factory=list)


def default_anchor() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class _Gen:
    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.anchor = cfg.seed_anchor or default_anchor()
        self.year_s = 365 * 86400

    def past(self, max_days: float = 365.0, min_days: float = 0.0) -> datetime:
        secs = self.rng.uniform(min_days * 86400, max_days * 86400)
        return self.anchor - timedelta(seconds=int(secs))

    def after(self, start: datetime) -> datetime:
        span = (self.anchor - start).total_seconds()
        return start + timedelta(seconds=int(self.rng.uniform(0, max(span, 0))))

    def phone(self, area: str) -> str:
        line = f"555-01{self.rng.randrange(100):02d}"
        r = self.rng.random()
        if r < 0.35:
            return f"+1 {area}-{line}"
        if r < 0.7:
            return f"({area}) {line}"
        if r < 0.85:
            return f"{area}-{line}"
        if r < 0.93:
            return f"+1{area}{line.replace('-', '')}"
        return f"{area}.{line.replace('-', '.')}"

    def postal(self, city: tuple[str, str, str, str, tuple[str, ...], tuple[str, ...], float, float]) -> str:
        prefix = self.rng.choice(city[5])
        if city[2] == "Canada":
            letters = "ABCEGHJKLMNPRSTVXY"
            return f"{prefix} {self.rng.randrange(10)}{self.rng.choice(letters)}{self.rng.randrange(10)}"
        return f"{prefix}{self.rng.randrange(100):02d}"

    def street(self) -> str:
        return f"{self.rng.randrange(12, 9900)} {self.rng.choice(STREET_NAMES)} {self.rng.choice(STREET_KINDS)}"


def build_seed(cfg: SandboxConfig) -> SeedData:
    g = _Gen(cfg)
    rng = g.rng
    app_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    account = Account(pk=1, name=cfg.account_name, created_at=g.anchor - timedelta(days=900))
    data = SeedData(account=account, app_id=app_id)

    # Users: technicians (the first one is Mike Thompson, the owner-operator).
    for i in range(max(cfg.users, 1)):
        if i < len(TECHNICIANS):
            first, last = TECHNICIANS[i]
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = cfg.account_name.lower().replace(" ", "")[:24] or "sandbox"
        tz = CITIES[0][3] if i < 3 else rng.choice(CITIES)[3]
        data.users.append(
            User(
                pk=i + 1,
                first=first,
                last=last,
                email_raw=f"{first.lower()}.{last.lower().replace(chr(39), '')}@{domain}.example.com",
                timezone=tz,
                is_account_owner=(i == 0),
                is_account_admin=(i < 2),
                created_at=g.past(800, 400),
                updated_at=g.past(60),
                uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            )
        )
    technicians = data.users

    tag_objs = [Tag(pk=i + 1, label=label) for i, label in enumerate(TAGS)]
    data.tags = tag_objs

    # Clients + properties.
    email_pk = phone_pk = prop_pk = 0
    for i in range(max(cfg.clients, 1)):
        created = g.past(365, 2)
        if i == 0:
            first, last, company, city = "John", "Smith", None, CITIES[0]
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            company = None
            if rng.random() < 0.15:
                words = (rng.choice(COMPANY_WORDS), rng.choice(COMPANY_KINDS), rng.choice(COMPANY_SUFFIX))
                company = " ".join(words).strip()
            city = rng.choice(CITIES)
        client = Client(
            pk=i + 1,
            first_name=first,
            last_name=last,
            company_name=company,
            is_company=company is not None,
            is_archived=(i > 0 and rng.random() < 0.05),
            created_at=created,
            updated_at=g.after(created),
            receives_review_requests=(i == 0 or rng.random() < 0.92),
            lead_source=rng.choice((None, "Google", "Referral", "Facebook", "Yard sign")) if i else "Referral",
        )
        if i == 0 or rng.random() < 0.92:
            email_pk += 1
            addr = (
                "john.smith@example.com"
                if i == 0
                else (
                    f"{first.lower()}.{last.lower().replace(chr(39), '')}"
                    f"{rng.randrange(1, 99) if rng.random() < 0.4 else ''}@{rng.choice(EMAIL_DOMAINS)}"
                )
            )
            email = Email(pk=email_pk, address=addr, primary=True, description="MAIN", client=client)
            client.emails.append(email)
            data.emails.append(email)
        if i == 0 or rng.random() < 0.9:
            phone_pk += 1
            number = f"+1 {city[4][0]}-555-0142" if i == 0 else g.phone(rng.choice(city[4]))
            phone = Phone(
                pk=phone_pk,
                number=number,
                primary=True,
                description="MOBILE" if rng.random() < 0.8 else "HOME",
                sms_allowed=(i == 0 or rng.random() < 0.85),
                client=client,
            )
            if i == 0:
                phone.description = "MOBILE"
            client.phones.append(phone)
            data.phones.append(phone)
            if i > 0 and rng.random() < 0.1:
                phone_pk += 1
                work = Phone(
                    pk=phone_pk,
                    number=g.phone(rng.choice(city[4])),
                    primary=False,
                    description="WORK",
                    sms_allowed=False,
                    client=client,
                )
                client.phones.append(work)
                data.phones.append(work)
        if i > 0 and rng.random() < 0.5:
            client.tags = rng.sample(tag_objs, rng.randint(1, 2))
        n_props = 1 if (i == 0 or rng.random() < 0.85) else 2
        for p in range(n_props):
            prop_pk += 1
            pcity = city if p == 0 else rng.choice(CITIES)
            prop = Property(
                pk=prop_pk,
                client=client,
                street1="4821 Barton Springs Rd" if i == 0 else g.street(),
                street2="" if rng.random() < 0.85 else f"Unit {rng.randrange(1, 40)}",
                city=pcity[0],
                province=pcity[1],
                postal_code="78704" if i == 0 else g.postal(pcity),
                country=pcity[2],
                timezone=pcity[3],
                latitude=round(pcity[6] + rng.uniform(-0.1, 0.1), 5),
                longitude=round(pcity[7] + rng.uniform(-0.1, 0.1), 5),
                created_at=created,
                updated_at=created,
            )
            if i == 0:
                prop.street2 = ""
            client.client_properties.append(prop)
            data.properties.append(prop)
        first_prop = client.client_properties[0]
        client.billing_address = {
            "street": first_prop.street,
            "street1": first_prop.street1,
            "street2": first_prop.street2,
            "city": first_prop.city,
            "province": first_prop.province,
            "postalCode": first_prop.postal_code,
            "country": first_prop.country,
            "latitude": str(first_prop.latitude),
            "longitude": str(first_prop.longitude),
        }
        data.clients.append(client)

    active_clients = [c for c in data.clients if not c.is_archived] or data.clients

    # Jobs + visits.
    statuses = [s for s, _ in JOB_STATUS_WEIGHTS]
    job_cum = list(itertools.accumulate(w for _, w in JOB_STATUS_WEIGHTS))
    visit_pk = li_pk = 0
    for j in range(max(cfg.jobs, 1)):
        if j == 0:
            client, (title, price), status = data.clients[0], JOB_TITLES[0], "active"
        else:
            client = rng.choice(active_clients) if rng.random() < 0.95 else rng.choice(data.clients)
            title, price = rng.choice(JOB_TITLES[1:]) if rng.random() < 0.9 else JOB_TITLES[0]
            status = rng.choices(statuses, cum_weights=job_cum)[0]
        prop = rng.choice(client.client_properties)
        created = max(g.past(330, 3), client.created_at)
        total = round(price * rng.uniform(0.8, 1.35), 2) if j else 1850.0
        job = Job(
            pk=j + 1,
            job_number=1042 + j,
            title=title,
            job_status=status,
            client=client,
            property_=prop,
            total=total,
            created_at=created,
            updated_at=g.after(created),
            instructions=rng.choice(
                (
                    None,
                    "Gate code 4321",
                    "Dog in backyard - friendly",
                    "Park on street",
                    "Call on arrival",
                    "Use side entrance",
                )
            ),
        )
        li_pk += 1
        item = LineItem(
            pk=li_pk,
            name=title,
            description=f"{title} - labour and materials",
            quantity=1.0,
            unit_price=total,
            created_at=created,
            updated_at=created,
        )
        job.line_items.append(item)
        data.line_items.append(item)
        n_visits = (
            0 if status == "unscheduled" else (1 if j == 0 else rng.choices((1, 2, 3), cum_weights=(60, 88, 100))[0])
        )
        # Visit timing relative to the anchor by status.
        for v in range(n_visits):
            if j == 0:
                start = g.anchor + timedelta(days=1, hours=15)
            elif status in ("archived", "requires_invoicing", "late", "action_required"):
                start = created + timedelta(days=rng.randint(1, 20) + 7 * v, hours=rng.randint(13, 22))
                if start > g.anchor - timedelta(hours=2):
                    start = g.anchor - timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 8))
            elif status == "today":
                start = g.anchor + timedelta(hours=rng.randint(13, 22))
            elif status in ("upcoming", "expiring_within_30_days"):
                start = g.anchor + timedelta(days=rng.randint(1, 45) + 7 * v, hours=rng.randint(13, 22))
            else:  # active / on_hold: some past, some future
                start = g.anchor + timedelta(days=rng.randint(-20, 30) + 7 * v, hours=rng.randint(13, 22))
            end = start + timedelta(hours=rng.choice((1, 2, 2, 3, 4)))
            done = status in ("archived", "requires_invoicing") or (
                status in ("active", "on_hold", "action_required") and end < g.anchor and rng.random() < 0.6
            )
            visit_pk += 1
            assigned = (
                [technicians[0]]
                if j == 0
                else rng.sample(technicians, min(len(technicians), rng.choices((1, 2), cum_weights=(80, 100))[0]))
            )
            visit = Visit(
                pk=visit_pk,
                job=job,
                title=title,
                assigned_users=assigned,
                start_at=start,
                end_at=end,
                completed_at=(end + timedelta(minutes=rng.randint(0, 50))) if done else None,
                completed_by=assigned[0].name["full"] if done else None,
                created_at=created,
                updated_at=job.updated_at,
            )
            job.visits.append(visit)
            data.visits.append(visit)
        if job.visits:
            job.start_at = job.visits[0].start_at
            job.end_at = job.visits[-1].end_at
        if status == "archived":
            last_end = max((v.completed_at for v in job.visits if v.completed_at), default=created)
            job.completed_at = min(last_end + timedelta(hours=2), g.anchor - timedelta(minutes=5))
            job.updated_at = max(job.updated_at, job.completed_at)
        for visit in job.visits:
            visit.updated_at = max(visit.updated_at, visit.completed_at or visit.created_at)
            visit.updated_at = min(visit.updated_at, g.anchor - timedelta(minutes=1))
        client.jobs.append(job)
        prop.jobs.append(job)
        data.jobs.append(job)

    # Invoices: prefer finished jobs; every status appears at least once.
    finished = [jb for jb in data.jobs if jb.job_status in ("archived", "requires_invoicing") and jb.pk != 1]
    pool = finished or data.jobs
    pay_pk = 0
    for n in range(max(cfg.invoices, 0)):
        job = pool[n % len(pool)] if n < len(pool) else rng.choice(data.jobs)
        status = (
            INVOICE_STATUSES[n]
            if n < len(INVOICE_STATUSES)
            else rng.choices(INVOICE_STATUSES, cum_weights=INVOICE_CUM)[0]
        )
        base = job.completed_at or job.end_at or job.created_at
        created = min(base + timedelta(hours=rng.randint(1, 72)), g.anchor - timedelta(minutes=30))
        issued = None if status == "draft" else created
        due: datetime | None = None
        if issued is not None:
            due = issued + timedelta(days=30)
            if status == "past_due" and due > g.anchor:
                issued = g.anchor - timedelta(days=rng.randint(35, 90))
                due = issued + timedelta(days=30)
                created = min(created, issued)
            if status == "sent_not_due" and due <= g.anchor:
                issued = g.anchor - timedelta(days=rng.randint(1, 20))
                due = issued + timedelta(days=30)
                created = min(created, issued)
        subtotal = job.total
        inv = Invoice(
            pk=n + 1,
            invoice_number=str(2001 + n),
            invoice_status=status,
            subject=f"For Services Rendered - {job.title}",
            client=job.client,
            property_=job.property_,
            jobs=[job],
            subtotal=subtotal,
            tax_amount=round(subtotal * 0.0825, 2),
            issued_date=issued,
            due_date=due,
            created_at=created,
            updated_at=g.after(created),
        )
        inv_item = InvoiceLineItem(
            pk=n + 1,
            name=job.title or "Services",
            description=f"{job.title} - labour and materials",
            quantity=1.0,
            unit_price=subtotal,
            created_at=created,
            updated_at=created,
        )
        inv.line_items.append(inv_item)
        data.line_items.append(inv_item)
        if status == "paid":
            pay_pk += 1
            paid_at = g.after(created)
            pay = Payment(
                pk=pay_pk,
                kind=rng.choice(PAYMENT_KINDS),
                invoice=inv,
                amount=inv.total,
                entry_date=paid_at,
                created_at=paid_at,
            )
            inv.payment_records.append(pay)
            inv.received_date = paid_at
            inv.updated_at = max(inv.updated_at, paid_at)
            data.payments.append(pay)
        job.invoices.append(inv)
        if job.client is not None:
            job.client.invoices.append(inv)
        data.invoices.append(inv)

    # Quotes: every status at least once.
    note_pk = 0
    for n in range(max(cfg.quotes, 0)):
        client = data.clients[0] if n == 0 else rng.choice(active_clients)
        prop = rng.choice(client.client_properties)
        title, price = rng.choice(JOB_TITLES)
        status = QUOTE_STATUSES[n] if n < len(QUOTE_STATUSES) else rng.choices(QUOTE_STATUSES, cum_weights=QUOTE_CUM)[0]
        created = max(g.past(300, 1), client.created_at)
        sent = None if status == "draft" else g.after(created)
        q = Quote(
            pk=n + 1,
            quote_number=str(301 + n),
            quote_status=status,
            title=title,
            client=client,
            property_=prop,
            subtotal=round(price * rng.uniform(0.9, 1.6), 2),
            sent_at=sent,
            created_at=created,
            updated_at=g.after(sent or created),
            transitioned_at=sent or created,
        )
        q.tax_amount = round(q.subtotal * 0.0825, 2)
        if status in ("approved", "converted"):
            q.approved_at = g.after(sent or created)
            q.updated_at = max(q.updated_at, q.approved_at)
        if status == "converted":
            q.converted_at = q.approved_at
        if status == "changes_requested":
            q.changes_requested_at = g.after(sent or created)
        if rng.random() < 0.3:
            note_pk += 1
            note = QuoteNote(pk=note_pk, quote=q, message="Client asked about financing options.", created_at=created)
            q.notes.append(note)
            data.quote_notes.append(note)
        q_item = QuoteLineItem(
            pk=n + 1,
            name=title,
            description=f"{title} - estimate",
            quantity=1.0,
            unit_price=q.subtotal,
            sort_order=0,
            created_at=created,
            updated_at=created,
        )
        q.line_items.append(q_item)
        data.line_items.append(q_item)
        client.quotes.append(q)
        prop.quotes.append(q)
        data.quotes.append(q)

    # Requests, tasks and expenses: a handful, proportional to the account.
    for n in range(max(3, cfg.quotes // 2)):
        client = rng.choice(active_clients)
        created = max(g.past(200), client.created_at)
        req = Request(
            pk=n + 1,
            title=rng.choice(JOB_TITLES)[0],
            client=client,
            property_=client.client_properties[0],
            request_status=REQUEST_STATUSES[n % len(REQUEST_STATUSES)],
            source="ONLINE_BOOKING",
            contact_name=f"{client.first_name} {client.last_name}",
            email=client.email,
            phone=client.phone,
            created_at=created,
            updated_at=g.after(created),
        )
        client.requests.append(req)
        client.client_properties[0].requests.append(req)
        data.requests.append(req)
    for n in range(max(3, cfg.jobs // 20)):
        created = g.past(120)
        start = g.anchor + timedelta(days=rng.randint(-10, 20), hours=rng.randint(13, 22))
        data.tasks.append(
            Task(
                pk=n + 1,
                title=rng.choice(
                    (
                        "Order parts",
                        "Call supplier",
                        "Pick up permit",
                        "Truck maintenance",
                        "Follow up on estimate",
                    )
                ),
                assigned_users=[rng.choice(technicians)],
                start_at=start,
                end_at=start + timedelta(hours=1),
                is_complete=start < g.anchor and rng.random() < 0.7,
                created_at=created,
                updated_at=g.after(created),
            )
        )
    for n in range(max(3, cfg.jobs // 10)):
        job = rng.choice(data.jobs)
        created = max(g.past(200), job.created_at)
        exp = Expense(
            pk=n + 1,
            title=rng.choice(
                (
                    "Copper fittings",
                    "PEX pipe",
                    "Fuel",
                    "Mulch (3 yd)",
                    "Filters",
                    "Dump fee",
                    "Caulk and sealant",
                )
            ),
            date=created,
            total=round(rng.uniform(12, 480), 2),
            linked_job=job,
            entered_by=rng.choice(technicians),
            created_at=created,
            updated_at=g.after(created),
        )
        job.expenses.append(exp)
        data.expenses.append(exp)
    return data
