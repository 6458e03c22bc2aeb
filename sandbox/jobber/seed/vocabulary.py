"""The words the seed draws from: names, companies, streets, cities, job titles, status weights."""

from __future__ import annotations

import itertools

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
