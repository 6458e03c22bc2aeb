"""Seeding the people: the account's users (technicians) and its clients with emails, phones and properties."""

from __future__ import annotations

import uuid

from ..models import (
    Client,
    Email,
    Phone,
    Property,
    User,
)
from .generator import Gen, SeedData
from .vocabulary import (
    CITIES,
    COMPANY_KINDS,
    COMPANY_SUFFIX,
    COMPANY_WORDS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    TECHNICIANS,
)


def seed_users(g: Gen, data: SeedData) -> None:
    """Technicians; the first one is Mike Thompson, the owner-operator."""
    cfg, rng = g.cfg, g.rng
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


def seed_clients(g: Gen, data: SeedData) -> None:
    """Clients with emails, phones, tags and properties; the first is John Smith in Austin."""
    cfg, rng = g.cfg, g.rng
    tag_objs = data.tags
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
