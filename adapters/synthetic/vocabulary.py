"""The world's words: names, companies, phone area codes, products, campaigns, reasons (data, no logic)."""

from __future__ import annotations

FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "gmx.com",
)
VENDOR_DOMAIN = "brightlane.io"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = (
    *_words(
        "Jane John Maria David Sarah Michael Emily James Olivia Daniel Sophia Robert Emma William Ava "
        "Thomas Isabella Charles Mia Joseph Amelia Christopher Harper Matthew Evelyn Anthony Abigail "
        "Mark Ella Steven Grace Paul Chloe Andrew Lily Joshua Hannah Kevin Nora Brian Zoe Jason Leah "
        "Ryan Aria Eric Priya Wei Hiroshi Aisha Carlos Lucia Mateo Ingrid Lars Fatima Omar Chen Yuki "
        "Ananya Diego Elena Kofi Amara"
    ),
    *("José", "Zoë", "Renée", "Björn", "Chloé", "André"),
)
LAST_NAMES = (
    *_words(
        "Doe Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
        "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
        "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
        "Patel Kim Chen Singh Kowalski Novak Schmidt Fischer Weber Rossi Bianchi Dubois Laurent "
        "Jensen Larsen Okafor Mensah Tanaka Sato Silva Costa Haddad Cohen Murphy"
    ),
    *("Müller", "García", "Sørensen", "Núñez"),
)
TITLES_LEAD = (
    "VP of Operations",
    "Head of Customer Experience",
    "Director of IT",
    "CTO",
    "VP Sales",
    "Head of Revenue Operations",
    "COO",
    "Director of Support",
)
TITLES_STAFF = (
    "Operations Manager",
    "Data Analyst",
    "Software Engineer",
    "Support Team Lead",
    "Procurement Specialist",
    "Finance Manager",
    "Marketing Manager",
    "Sales Operations Analyst",
    "IT Administrator",
    "Customer Success Manager",
)
COMPANY_A = _words(
    "Acme Blue Harbor Summit Pioneer Granite Silver Northwind Evergreen Redwood Cobalt Quantum Atlas "
    "Beacon Cedar Crescent Falcon Horizon Ironclad Juniper Keystone Lighthouse Maple Meridian Nimbus "
    "Orchard Pinnacle Riverbend Sapphire Starling Sterling Tidewater Vantage Willow Zenith Aurora "
    "Bluebird Copper Driftwood Emerald Foxglove Golden Highland Indigo Lakeside Magnolia Northstar "
    "Oakridge Prairie"
)
COMPANY_B = _words(
    "Widgets Logistics Analytics Foods Health Robotics Energy Finance Retail Systems Labs "
    "Manufacturing Outfitters Media Networks Pharma Insurance Foundry Mobility Biotech Furniture "
    "Hospitality Textiles Telecom Software Brewing Aerospace Consulting Dynamics Capital"
)
# The CRM's industry picklist: each account has one (a stable hash of its name picks it, so adding it drew
# nothing from the seed's random stream and the rest of the world is as it was).
INDUSTRIES = (
    "Software",
    "Manufacturing",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Logistics",
    "Education",
    "Energy",
    "Media",
    "Professional Services",
)
COMPANY_C = ("Group", "Holdings", "Partners", "International", "Works", "Collective")
EU_TLDS = ("de", "fr", "nl", "eu", "ie", "es")
# Geographic US area codes; with 555-0100..0199 (reserved for fiction) every one passes phonenumbers.
US_AREA_CODES = _words(
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 231 234 239 "
    "240 248 251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 310 312 "
    "313 314 315 316 317 318 319 320 321 323 330 331 334 336 337 339 347 351 352 360 361 385 386 401 "
    "402 404 405 406 407 408 409 410 412 413 414 415 417 419 423 424 425 432 434 435 440 443 469 470 "
    "475 478 479 480 484 501 502 503 504 505 507 508 509 510 512 513 515 516 517 518 520 530 540 541 "
    "551 559 561 562 563 567 570 571 573 574 575 580 585 586 601 602 603 605 606 607 608 609 610 612 "
    "614 615 616 617 618 619 620 623 626 630 631 636 641 646 650 651 660 661 662 678 682 701 702 703 "
    "704 706 707 708 712 713 714 715 716 717 718 719 720 724 727 731 732 734 740 754 757 760 762 763 "
    "765 769 770 772 773 774 775 781 785 786 801 802 803 804 805 806 808 810 812 813 814 815 816 817 "
    "818 828 830 831 832 843 845 847 848 850 856 857 858 859 860 862 863 864 865 870 901 903 904 906 "
    "907 908 909 910 912 913 914 915 916 917 918 919 920 925 928 931 936 937 940 941 947 949 951 952 "
    "954 956 970 971 972 973 978 979 980 985 989"
)
SALES_REPS = ("Maya Patel", "Tom Becker", "Lena Hoffmann", "Marcus Reed", "Sofia Alvarez", "Noah Kim")
SUPPORT_AGENTS = ("Priya N.", "Alex M.", "Jordan P.", "Sam T.", "Chris L.", "Dana W.", "Kai R.")
CC_AGENTS = ("agent.rivera", "agent.okafor", "agent.lindqvist", "agent.chen", "agent.moreau")
PRODUCTS = ("Brightlane Platform", "Brightlane Analytics", "Brightlane Sync", "Brightlane Insights")
PLANS = (("Starter", 2_900), ("Growth", 4_900), ("Enterprise", 9_900))  # monthly price per seat, cents
CONFERENCES = (
    "SaaStr Annual",
    "CX Connect Expo",
    "RevOps Live",
    "Support Driven Expo",
    "Data Council",
    "Web Summit",
    "Customer Success Summit",
    "Martech World",
)
CAMPAIGN_SUBJECTS = (
    "Your 2026 customer data playbook",
    "5 ways to cut your support backlog",
    "New: a real-time customer 360",
    "How Acme cut churn by 18%",
    "What's new in Brightlane this month",
    "Benchmark report: customer experience 2026",
    "Last chance: early-bird pricing",
    "Unifying sales and support, step by step",
)
CONTENT = (
    ("ebook-cx-playbook", "The Customer Experience Playbook"),
    ("report-benchmark-2026", "CX Benchmark Report 2026"),
    ("guide-data-quality", "A Practical Guide to CRM Data Quality"),
    ("whitepaper-identity", "Identity Resolution Explained"),
    ("checklist-onboarding", "Customer Onboarding Checklist"),
)
WEBINARS = (
    ("web-360-live", "Live demo: the customer 360"),
    ("web-churn", "Predicting churn from support signals"),
    ("web-revops", "RevOps roundtable: one funnel, one truth"),
)
AD_NETWORKS = ("google_ads", "linkedin", "meta", "bing_ads")
TICKET_SUBJECTS = {
    "P1": ("Platform down for all users", "Sync stopped - data not updating", "Cannot log in (SSO outage)"),
    "P2": ("Dashboard exports failing", "Webhook deliveries delayed", "Report totals look wrong"),
    "P3": ("How to add a custom field?", "Import fails for one CSV", "Slow page loads in reports"),
    "P4": ("Question about invoices", "Feature request: dark mode", "How do I reset my password?"),
}
CONSUMER_TICKET_SUBJECTS = ("Where is my order?", "Refund request", "Charged twice", "Cannot change my plan")
RESOLUTIONS = ("Fixed in release 4.2.1", "Configuration corrected", "Explained the setting", "Refund issued")
LOST_REASONS = ("Budget cut", "Chose a competitor", "No decision", "Timing - revisit next year")
COMPETITORS = ("Salesforce Data Cloud", "Segment", "HubSpot Operations Hub", "Treasure Data")
DISQUALIFY_REASONS = ("No budget", "Student / personal use", "Not the decision maker", "Too small")
COMPLAINT_THEMES = {
    "service": ("slow response", "ticket closed without fix"),
    "product": ("recurring outage", "missing feature promised"),
    "billing": ("unexpected charge", "invoice errors"),
    "delivery": ("late delivery", "damaged package"),
    "sales_conduct": ("pushy follow-up",),
}
CONSUMER_SKUS = (("BL-HOME-LITE", 1_900), ("BL-HOME-PRO", 4_900), ("BL-ADDON-STORAGE", 900))
NPS_COMMENTS = ("Great support team", "Does what we need", "Too expensive for what it does", "Sync breaks")
