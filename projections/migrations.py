"""The ClickHouse schema as versioned migrations: an ordered list of (version, name, statements), as data.

`adapters/storage/migrate.py` applies the ones a database has not recorded in `schema_migrations`. A
migration is history: never change what a shipped one means — add the next (a view changes by DROP TABLE
+ CREATE VIEW: 18.16 has no DROP VIEW). The one exception is a storage setting that changes no answer
(`POINT_READ_TABLES`' granules): a store created before keeps its own, but for the tables `touchstream
rebuild` swaps, whose shadow tables take the engine clause as it stands here (`engine_of`).
Every statement runs unchanged on ClickHouse 18.16 and chDB 26 (docs/clickhouse.md) and is idempotent on
its own (IF NOT EXISTS), so a migration interrupted half-way is simply applied again.

The analyst views (docs/queries.md) read through `touchpoints_current`, which de-duplicates the facts
(FINAL) and re-points merged contacts to their survivor through `contact_merges` (an ANY LEFT JOIN ...
USING, the join form 18.16 answers correctly).

Long because it is data, not logic: the SQL of every table and view, in the order the versions apply them,
and later migrations build on earlier statements by name; split up, one ordered history would only be
scattered across files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


# Tables read a key at a time (a contact's row, an identifier, a deal's facts) keep 256-row granules, not
# 8,192: a point read decompresses 32x fewer values of every column it selects. bench/query.py, 100k
# contacts, find by email + the whole 360 document: p50 47 -> 28 ms on the 18.16 server, 62 -> 55 ms on
# chDB (whose cost is more its per-query planning than reading).
POINT_READ_TABLES = (
    "customer_360",
    "signals",
    "projection_state",
    "contact_merges",
    "contact_lookup",
    "work_facts",
    "contact_items",
    "account_signals",
    "merge_members",
    "contact_timeline",
    "account_members",
)
POINT_READ_GRANULE = 256


_TOUCHPOINTS = """
CREATE TABLE IF NOT EXISTS touchpoints (
    event_id String,
    type String,
    schema_version UInt16,
    occurred_at DateTime,
    recorded_at DateTime,
    source String,
    department String,
    actor String,
    contact_id String,
    account_id String,
    identifier String,
    identifier_kind String,
    email String,
    phone String,
    account_domain String,
    campaign_id String,
    lead_id String,
    opportunity_id String,
    ticket_id String,
    subscription_id String,
    order_id String,
    title String,
    stage String,
    from_stage String,
    amount Decimal(18, 2),
    currency String,
    owner String,
    expected_close Nullable(Date),
    lead_source String,
    priority String,
    status String,
    public_reply UInt8,
    product String,
    score Nullable(Int16),
    intent String,
    caller_role String,
    disposition String,
    channel String,
    category String,
    severity String,
    theme String,
    purpose String,
    renews_on Nullable(Date),
    summary String,
    payload String,
    log_partition UInt32,
    log_offset UInt64
) ENGINE = ReplacingMergeTree(log_offset)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
"""

_DEAD_LETTERS = """
CREATE TABLE IF NOT EXISTS dead_letters (
    log_partition UInt32,
    log_offset UInt64,
    received_at DateTime,
    event_type String,
    event_id String,
    source String,
    department String,
    error String,
    raw String
) ENGINE = ReplacingMergeTree(log_offset)
ORDER BY (log_partition, log_offset)
"""

_CUSTOMER_360 = """
CREATE TABLE IF NOT EXISTS customer_360 (
    contact_id String,
    account_id String,
    version UInt64,
    updated_at DateTime,
    first_seen DateTime,
    last_seen DateTime,
    touches UInt32,
    first_name String,
    last_name String,
    email String,
    phone String,
    company String,
    job_title String,
    attribute_sources String,
    lifecycle_stage String,
    marketing_consent UInt8,
    sales_consent UInt8,
    first_source String,
    first_department String,
    department_touches String,
    last_marketing_at DateTime,
    last_sales_at DateTime,
    last_support_at DateTime,
    last_sales_contact_at DateTime,
    warm_touches UInt32,
    warm_context String,
    open_opportunities UInt32,
    open_pipeline Decimal(18, 2),
    pipeline_currency String,
    open_tickets UInt32,
    worst_open_priority String,
    reopens UInt32,
    last_csat Nullable(UInt8),
    last_csat_at DateTime,
    last_nps Nullable(UInt8),
    last_nps_at DateTime,
    lifetime_revenue Decimal(18, 2),
    revenue_currency String,
    won_deals UInt32,
    active_subscriptions UInt32,
    next_renewal DateTime,
    lead_score Float64,
    health_score UInt8,
    active_signals Array(String),
    erased UInt8
) ENGINE = ReplacingMergeTree(version)
ORDER BY contact_id
SETTINGS index_granularity = 256
"""

_SIGNALS = """
CREATE TABLE IF NOT EXISTS signals (
    signal_id String,
    contact_id String,
    account_id String,
    kind String,
    department String,
    status String,
    reason String,
    evidence Array(String),
    raised_at DateTime,
    expires_at DateTime,
    cleared_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (contact_id, signal_id)
SETTINGS index_granularity = 256
"""

# The fold's checkpoint for the embedded runner (production keeps it in a Faust table).
_PROJECTION_STATE = """
CREATE TABLE IF NOT EXISTS projection_state (
    contact_id String,
    version UInt64,
    state String
) ENGINE = ReplacingMergeTree(version)
ORDER BY contact_id
SETTINGS index_granularity = 256
"""

_CONTACT_MERGES = """
CREATE TABLE IF NOT EXISTS contact_merges (
    merged_id String,
    survivor_id String,
    active UInt8,
    reason String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY merged_id
SETTINGS index_granularity = 256
"""

# Config tables: filled from ProjectionConfig by `adapters/storage/migrate.py load_config`
# (truncate + insert).
_STAGE_PROBABILITIES = """
CREATE TABLE IF NOT EXISTS stage_probabilities (
    stage String,
    probability Decimal(9, 4)
) ENGINE = MergeTree ORDER BY stage
"""

_SLA_TARGETS = """
CREATE TABLE IF NOT EXISTS sla_targets (
    priority String,
    first_response_sla_minutes UInt32,
    resolution_sla_minutes UInt32
) ENGINE = MergeTree ORDER BY priority
"""

# Active merges, one hop (the merge fold flattens chains: see projections/merges.py).
_MERGE_MAP = "(SELECT merged_id AS contact_id, survivor_id FROM contact_merges FINAL WHERE active = 1)"

_FACT_COLUMNS = [
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "source",
    "department",
    "actor",
    "account_id",
    "identifier",
    "identifier_kind",
    "email",
    "phone",
    "account_domain",
    "campaign_id",
    "lead_id",
    "opportunity_id",
    "ticket_id",
    "subscription_id",
    "order_id",
    "title",
    "stage",
    "from_stage",
    "amount",
    "currency",
    "owner",
    "expected_close",
    "lead_source",
    "priority",
    "status",
    "public_reply",
    "product",
    "score",
    "intent",
    "caller_role",
    "disposition",
    "channel",
    "category",
    "severity",
    "theme",
    "purpose",
    "renews_on",
    "summary",
    "payload",
    "log_partition",
    "log_offset",
]

_PROFILE_COLUMNS = [
    "account_id",
    "first_seen",
    "last_seen",
    "touches",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "lifecycle_stage",
    "marketing_consent",
    "sales_consent",
    "first_source",
    "first_department",
    "last_marketing_at",
    "last_sales_at",
    "last_support_at",
    "last_sales_contact_at",
    "warm_touches",
    "warm_context",
    "open_opportunities",
    "open_pipeline",
    "open_tickets",
    "worst_open_priority",
    "reopens",
    "last_csat",
    "last_csat_at",
    "last_nps",
    "last_nps_at",
    "lifetime_revenue",
    "won_deals",
    "active_subscriptions",
    "lead_score",
    "health_score",
    "active_signals",
    "erased",
]

#: The view's per-contact columns as they stand (projections/customer_360.py's PROFILE_FIELDS reads them):
#: a later migration that changes them gives this name its new list.
VIEW_PROFILE_COLUMNS = tuple(_PROFILE_COLUMNS)

_SIGNAL_COLUMNS = [
    "signal_id",
    "account_id",
    "kind",
    "department",
    "status",
    "reason",
    "evidence",
    "raised_at",
    "expires_at",
]


def _repointed(table: str, columns: list[str]) -> str:
    """`table` FINAL with `contact_id` mapped to the survivor of a merge (and `original_contact_id` kept).

    18.16 substitutes a SELECT alias into the USING key, so the mapped `contact_id` is named one level
    above the join, never beside it.
    """
    listed = ", ".join(columns)
    return f"""
SELECT if(survivor_id = '', original_contact_id, survivor_id) AS contact_id, original_contact_id, {listed}
FROM (
    SELECT original_contact_id, survivor_id, {listed}
    FROM (SELECT contact_id, contact_id AS original_contact_id, {listed} FROM {table} FINAL) AS l
    ANY LEFT JOIN {_MERGE_MAP} AS r USING contact_id
)"""


_TOUCHPOINTS_CURRENT = "CREATE VIEW IF NOT EXISTS touchpoints_current AS" + _repointed(
    "touchpoints", _FACT_COLUMNS
)

_TIMELINE = """
CREATE VIEW IF NOT EXISTS timeline AS
SELECT contact_id, occurred_at, department, type, source, summary, event_id, original_contact_id
FROM touchpoints_current
"""

# Each contact's 360 row, merged contacts folded into their survivor: sums for counts, the freshest row
# for attributes, the furthest lifecycle stage.
_CUSTOMER_360_CURRENT = f"""
CREATE VIEW IF NOT EXISTS customer_360_current AS
SELECT
    contact_id,
    argMax(account_id, seen_at) AS account_id,
    min(first_at) AS first_seen,
    max(seen_at) AS last_seen,
    sum(touches) AS touches,
    argMax(first_name, seen_at) AS first_name,
    argMax(last_name, seen_at) AS last_name,
    argMax(email, seen_at) AS email,
    argMax(phone, seen_at) AS phone,
    argMax(company, seen_at) AS company,
    argMax(job_title, seen_at) AS job_title,
    argMax(lifecycle_stage, seen_at) AS lifecycle_stage,
    min(marketing_consent) AS marketing_consent,
    min(sales_consent) AS sales_consent,
    argMin(first_source, first_at) AS first_source,
    argMin(first_department, first_at) AS first_department,
    max(last_marketing_at) AS last_marketing_at,
    max(last_sales_at) AS last_sales_at,
    max(last_support_at) AS last_support_at,
    max(last_sales_contact_at) AS last_sales_contact_at,
    sum(warm_touches) AS warm_touches,
    argMax(warm_context, seen_at) AS warm_context,
    sum(open_opportunities) AS open_opportunities,
    sum(open_pipeline) AS open_pipeline,
    sum(open_tickets) AS open_tickets,
    ifNull(minIf(worst_open_priority, worst_open_priority != ''), '') AS worst_open_priority,
    sum(reopens) AS reopens,
    argMax(last_csat, csat_at) AS last_csat,
    max(csat_at) AS last_csat_at,
    argMax(last_nps, nps_at) AS last_nps,
    max(nps_at) AS last_nps_at,
    sum(lifetime_revenue) AS lifetime_revenue,
    sum(won_deals) AS won_deals,
    sum(active_subscriptions) AS active_subscriptions,
    max(lead_score) AS lead_score,
    min(health_score) AS health_score,
    arraySort(groupUniqArrayArray(active_signals)) AS active_signals,
    max(erased) AS erased,
    count() - 1 AS merged_contacts
FROM (
    SELECT *, first_seen AS first_at, last_seen AS seen_at, last_csat_at AS csat_at, last_nps_at AS nps_at
    FROM ({_repointed("customer_360", _PROFILE_COLUMNS)}
    )
)
GROUP BY contact_id
"""

_ACCOUNT_360 = """
CREATE VIEW IF NOT EXISTS account_360 AS
SELECT
    account_id,
    count() AS contacts,
    countIf(lifecycle_stage = 'customer') AS customers,
    max(last_seen) AS last_seen,
    sum(touches) AS touches,
    sum(open_opportunities) AS open_opportunities,
    sum(open_pipeline) AS open_pipeline,
    sum(open_tickets) AS open_tickets,
    ifNull(minIf(worst_open_priority, worst_open_priority != ''), '') AS worst_open_priority,
    sum(lifetime_revenue) AS lifetime_revenue,
    min(health_score) AS lowest_health_score,
    avg(health_score) AS average_health_score,
    arraySort(groupUniqArrayArray(active_signals)) AS active_signals
FROM customer_360_current
WHERE account_id != ''
GROUP BY account_id
"""

_ACTIVE_SIGNALS = f"""
CREATE VIEW IF NOT EXISTS active_signals AS
SELECT contact_id, original_contact_id, signal_id, account_id, kind, department, reason, evidence, raised_at,
    expires_at
FROM ({_repointed("signals", _SIGNAL_COLUMNS)}
)
WHERE status = 'raised' AND expires_at > now()
"""

_SALES_PIPELINE = """
CREATE VIEW IF NOT EXISTS sales_pipeline AS
SELECT
    opportunity_id,
    argMinIf(contact_id, occurred_at, type = 'OpportunityCreated') AS contact_id,
    argMinIf(account_id, occurred_at, type = 'OpportunityCreated') AS account_id,
    anyIf(title, type = 'OpportunityCreated') AS name,
    multiIf(
        countIf(type = 'OpportunityWon') > 0, 'won', countIf(type = 'OpportunityLost') > 0, 'lost', 'open'
    ) AS status,
    argMaxIf(set_stage, (occurred_at, log_offset), set_stage != '') AS stage,
    argMaxIf(amount, (occurred_at, log_offset), money_currency != '' AND type != 'QuoteSent') AS amount,
    argMaxIf(money_currency, (occurred_at, log_offset), money_currency != '' AND type != 'QuoteSent')
        AS currency,
    argMaxIf(owner, (occurred_at, log_offset), owner != '') AS owner,
    maxIf(ifNull(expected_close, toDate(0)), type = 'OpportunityCreated') AS expected_close,
    minIf(occurred_at, type = 'OpportunityCreated') AS created_at,
    maxIf(occurred_at, set_stage != '') AS stage_entered_at,
    maxIf(occurred_at, type IN ('OpportunityWon', 'OpportunityLost')) AS closed_at,
    dateDiff('day', stage_entered_at, if(status = 'open', now(), closed_at)) AS days_in_stage,
    countIf(type IN ('MeetingHeld', 'QuoteSent', 'OpportunityStageChanged')) AS activities
FROM (
    SELECT opportunity_id, contact_id, account_id, type, title, stage AS set_stage, amount,
        currency AS money_currency, owner, expected_close, occurred_at, log_offset
    FROM touchpoints_current
    WHERE opportunity_id != ''
)
GROUP BY opportunity_id
"""

_SALES_STAGE_TRANSITIONS = """
CREATE VIEW IF NOT EXISTS sales_stage_transitions AS
SELECT
    toStartOfMonth(occurred_at) AS period,
    from_stage,
    stage AS to_stage,
    count() AS transitions
FROM touchpoints_current
WHERE type = 'OpportunityStageChanged'
GROUP BY period, from_stage, to_stage
"""

# Leads by the month they were created and their source; what became of them (by the same contact, after
# the lead was created).
_SALES_FUNNEL = """
CREATE VIEW IF NOT EXISTS sales_funnel AS
SELECT
    toStartOfMonth(created_at) AS period,
    lead_source,
    count() AS leads,
    sum(qualified) AS qualified,
    sum(disqualified) AS disqualified,
    sum(last_opportunity_at >= created_at) AS opportunities,
    sum(last_won_at >= created_at) AS won,
    qualified / leads AS lead_to_qualified,
    opportunities / leads AS lead_to_opportunity,
    won / leads AS lead_to_won
FROM (
    SELECT
        lead_id,
        argMinIf(contact_id, occurred_at, type = 'LeadCreated') AS contact_id,
        argMinIf(lead_source, occurred_at, type = 'LeadCreated') AS lead_source,
        minIf(occurred_at, type = 'LeadCreated') AS created_at,
        countIf(type = 'LeadQualified') > 0 AS qualified,
        countIf(type = 'LeadDisqualified') > 0 AS disqualified
    FROM touchpoints_current
    WHERE lead_id != ''
    GROUP BY lead_id
    HAVING countIf(type = 'LeadCreated') > 0
) AS l ANY LEFT JOIN (
    SELECT
        contact_id,
        maxIf(occurred_at, type = 'OpportunityCreated') AS last_opportunity_at,
        maxIf(occurred_at, type = 'OpportunityWon') AS last_won_at
    FROM touchpoints_current
    WHERE type IN ('OpportunityCreated', 'OpportunityWon')
    GROUP BY contact_id
) AS r USING contact_id
GROUP BY period, lead_source
"""

_SALES_FORECAST = """
CREATE VIEW IF NOT EXISTS sales_forecast AS
SELECT
    toStartOfQuarter(expected_close) AS quarter,
    owner,
    currency,
    count() AS opportunities,
    sum(amount) AS pipeline,
    sum(amount * probability) AS weighted_pipeline
FROM (
    SELECT opportunity_id, stage, owner, currency, amount, expected_close
    FROM sales_pipeline
    WHERE status = 'open'
) AS l ANY LEFT JOIN stage_probabilities USING stage
GROUP BY quarter, owner, currency
"""

_CAMPAIGN_ENGAGEMENT = """
CREATE VIEW IF NOT EXISTS campaign_engagement AS
SELECT
    campaign_id,
    sum(sent) AS sent,
    sum(opened) AS opened,
    sum(clicked) AS clicked,
    sum(responses) AS responses,
    sum(unsubscribed) AS unsubscribed,
    count() AS contacts,
    sum(engaged) AS engaged_contacts,
    sum(engaged AND last_conversion_at > first_engaged_at) AS converted
FROM (
    SELECT
        campaign_id,
        contact_id,
        countIf(type = 'CampaignEmailSent') AS sent,
        countIf(type = 'EmailOpened') AS opened,
        countIf(type = 'EmailClicked') AS clicked,
        countIf(type NOT IN ('CampaignEmailSent', 'EmailOpened', 'EmailClicked', 'Unsubscribed'))
            AS responses,
        countIf(type = 'Unsubscribed') AS unsubscribed,
        countIf(type NOT IN ('CampaignEmailSent', 'Unsubscribed')) > 0 AS engaged,
        minIf(occurred_at, type NOT IN ('CampaignEmailSent', 'Unsubscribed')) AS first_engaged_at
    FROM touchpoints_current
    WHERE campaign_id != ''
    GROUP BY campaign_id, contact_id
) AS l ANY LEFT JOIN (
    SELECT contact_id, max(occurred_at) AS last_conversion_at
    FROM touchpoints_current
    WHERE type IN ('LeadCreated', 'OrderPlaced')
    GROUP BY contact_id
) AS r USING contact_id
GROUP BY campaign_id
"""

# Won opportunities and the campaign touches of the same contact before the win.
_ATTRIBUTION_PAIRS = """(
    SELECT opportunity_id, amount, currency, campaign_id, touched_at
    FROM (
        SELECT opportunity_id, contact_id, amount, currency, occurred_at AS won_at
        FROM touchpoints_current
        WHERE type = 'OpportunityWon'
    ) AS l ALL INNER JOIN (
        SELECT contact_id, campaign_id, occurred_at AS touched_at
        FROM touchpoints_current
        WHERE campaign_id != '' AND type NOT IN ('CampaignEmailSent', 'Unsubscribed')
    ) AS r USING contact_id
    WHERE touched_at <= won_at
)"""

_CAMPAIGN_ATTRIBUTION = f"""
CREATE VIEW IF NOT EXISTS campaign_attribution AS
SELECT
    campaign_id,
    currency,
    uniqExact(opportunity_id) AS won_opportunities,
    sum(if(campaign_id = first_campaign, amount, toDecimal64(0, 2))) AS first_touch_revenue,
    sum(if(campaign_id = last_campaign, amount, toDecimal64(0, 2))) AS last_touch_revenue,
    sum(amount * touches / opportunity_touches) AS linear_revenue
FROM (
    SELECT opportunity_id, campaign_id, currency, amount, count() AS touches
    FROM {_ATTRIBUTION_PAIRS}
    GROUP BY opportunity_id, campaign_id, currency, amount
) AS l ANY LEFT JOIN (
    SELECT
        opportunity_id,
        argMin(campaign_id, (touched_at, campaign_id)) AS first_campaign,
        argMax(campaign_id, (touched_at, campaign_id)) AS last_campaign,
        count() AS opportunity_touches
    FROM {_ATTRIBUTION_PAIRS}
    GROUP BY opportunity_id
) AS r USING opportunity_id
GROUP BY campaign_id, currency
"""

_SUPPORT_TICKETS = """
CREATE VIEW IF NOT EXISTS support_tickets AS
SELECT
    ticket_id, contact_id, account_id, product, channel, priority, status, opened_at, first_response_at,
    resolved_at, reopens,
    if(first_response_at > toDateTime(0), intDiv(first_response_at - opened_at, 60), NULL)
        AS first_response_minutes,
    if(status = 'solved', intDiv(resolved_at - opened_at, 60), NULL) AS resolution_minutes,
    first_response_sla_minutes,
    resolution_sla_minutes,
    ifNull(first_response_minutes > first_response_sla_minutes, 0) AS first_response_breached,
    ifNull(resolution_minutes > resolution_sla_minutes, 0) AS resolution_breached
FROM (
    SELECT
        ticket_id,
        argMinIf(contact_id, occurred_at, type = 'TicketOpened') AS contact_id,
        argMinIf(account_id, occurred_at, type = 'TicketOpened') AS account_id,
        anyIf(product, type = 'TicketOpened') AS product,
        anyIf(channel, type = 'TicketOpened') AS channel,
        argMaxIf(priority, (occurred_at, log_offset), priority != '') AS priority,
        argMaxIf(ticket_status, (occurred_at, log_offset), ticket_status != '') AS status,
        minIf(occurred_at, type = 'TicketOpened') AS opened_at,
        minIf(occurred_at, type = 'TicketUpdated' AND public_reply = 1) AS first_response_at,
        maxIf(occurred_at, ticket_status = 'solved') AS resolved_at,
        countIf(type = 'TicketReopened') AS reopens
    FROM (
        SELECT ticket_id, contact_id, account_id, type, product, channel, priority, status AS ticket_status,
            public_reply, occurred_at, log_offset
        FROM touchpoints_current
        WHERE ticket_id != ''
            AND type IN ('TicketOpened', 'TicketUpdated', 'TicketResolved', 'TicketReopened')
    )
    GROUP BY ticket_id
) AS l ANY LEFT JOIN sla_targets USING priority
"""

_SUPPORT_SLA_SUMMARY = """
CREATE VIEW IF NOT EXISTS support_sla_summary AS
SELECT
    priority,
    count() AS tickets,
    countIf(status != 'solved') AS open_tickets,
    countIf(first_response_minutes IS NOT NULL) AS responded,
    sum(first_response_breached) AS first_response_breached,
    countIf(status = 'solved') AS resolved,
    sum(resolution_breached) AS resolution_breached,
    sum(reopens) AS reopens
FROM support_tickets
GROUP BY priority
"""

_CSAT_BY_PERIOD = """
CREATE VIEW IF NOT EXISTS csat_by_period AS
SELECT
    toStartOfMonth(occurred_at) AS period,
    product,
    account_id,
    count() AS responses,
    avg(score) AS average_score,
    countIf(score >= 4) AS satisfied
FROM (
    SELECT occurred_at, account_id, assumeNotNull(score) AS score, ticket_id
    FROM touchpoints_current
    WHERE type = 'CsatSubmitted'
) AS l ANY LEFT JOIN (
    SELECT ticket_id, any(product) AS product
    FROM touchpoints_current
    WHERE type = 'TicketOpened'
    GROUP BY ticket_id
) AS r USING ticket_id
GROUP BY period, product, account_id
"""

_NPS_BY_PERIOD = """
CREATE VIEW IF NOT EXISTS nps_by_period AS
SELECT
    toStartOfMonth(occurred_at) AS period,
    account_id,
    count() AS responses,
    countIf(assumeNotNull(score) >= 9) AS promoters,
    countIf(assumeNotNull(score) BETWEEN 7 AND 8) AS passives,
    countIf(assumeNotNull(score) <= 6) AS detractors,
    (promoters - detractors) * 100 / responses AS nps
FROM touchpoints_current
WHERE type = 'NpsSubmitted'
GROUP BY period, account_id
"""

_COMPLAINT_THEMES = """
CREATE VIEW IF NOT EXISTS complaint_themes AS
SELECT
    toStartOfMonth(occurred_at) AS period,
    category,
    theme,
    count() AS complaints,
    countIf(severity = 'high') AS high_severity,
    uniqExact(contact_id) AS contacts
FROM touchpoints_current
WHERE type = 'ComplaintLogged'
GROUP BY period, category, theme
"""

# Per source and department: what each team records, and what it fails to. One partial row per measure,
# summed (18.16 has no FULL JOIN worth trusting here; UNION ALL of same-typed rows is plain).
_DATA_QUALITY = """
CREATE VIEW IF NOT EXISTS data_quality AS
SELECT
    source,
    department,
    sum(events) AS events,
    sum(dead_lettered) AS dead_lettered,
    sum(unresolved_identifier_events) AS unresolved_identifier_events,
    sum(contacts_missing_fields) AS contacts_missing_fields,
    sum(opportunities_without_activity) AS opportunities_without_activity,
    sum(stalled_deals) AS stalled_deals
FROM (
    SELECT source, department, count() AS events, toUInt64(0) AS dead_lettered,
        countIf(identifier_kind IN ('phone', 'domain', 'account') OR original_contact_id = '')
            AS unresolved_identifier_events,
        toUInt64(0) AS contacts_missing_fields, toUInt64(0) AS opportunities_without_activity,
        toUInt64(0) AS stalled_deals
    FROM touchpoints_current
    GROUP BY source, department
    UNION ALL
    SELECT source, department, toUInt64(0) AS events,
        count() AS dead_lettered, toUInt64(0) AS unresolved_identifier_events,
        toUInt64(0) AS contacts_missing_fields, toUInt64(0) AS opportunities_without_activity,
        toUInt64(0) AS stalled_deals
    FROM dead_letters FINAL
    GROUP BY source, department
    UNION ALL
    SELECT first_source AS source, first_department AS department, toUInt64(0) AS events,
        toUInt64(0) AS dead_lettered, toUInt64(0) AS unresolved_identifier_events,
        count() AS contacts_missing_fields, toUInt64(0) AS opportunities_without_activity,
        toUInt64(0) AS stalled_deals
    FROM customer_360 FINAL
    WHERE erased = 0 AND (email = '' OR first_name = '' OR last_name = '')
    GROUP BY source, department
    UNION ALL
    SELECT source, department, toUInt64(0) AS events, toUInt64(0) AS dead_lettered,
        toUInt64(0) AS unresolved_identifier_events, toUInt64(0) AS contacts_missing_fields,
        countIf(status = 'open' AND activities = 0) AS opportunities_without_activity,
        countIf(stage_changes = 0) AS stalled_deals
    FROM (
        SELECT
            opportunity_id,
            argMinIf(source, occurred_at, type = 'OpportunityCreated') AS source,
            argMinIf(department, occurred_at, type = 'OpportunityCreated') AS department,
            if(countIf(type IN ('OpportunityWon', 'OpportunityLost')) > 0, 'closed', 'open') AS status,
            countIf(type IN ('MeetingHeld', 'QuoteSent', 'OpportunityStageChanged', 'CallLogged'))
                AS activities,
            countIf(type = 'OpportunityStageChanged') AS stage_changes
        FROM touchpoints_current
        WHERE opportunity_id != ''
        GROUP BY opportunity_id
        HAVING countIf(type = 'OpportunityCreated') > 0
    )
    GROUP BY source, department
)
GROUP BY source, department
"""

# --- migration 5: the forecast in one reporting currency, and CRM adoption per rep ---------------------

# Dated rates to the reporting currency (config table, like stage_probabilities): a deal converts at the
# rate of the newest `valid_from` on or before its expected close.
_FX_RATES = """
CREATE TABLE IF NOT EXISTS fx_rates (
    currency String,
    valid_from Date,
    rate Decimal(18, 6),
    reporting_currency String
) ENGINE = MergeTree ORDER BY (currency, valid_from)
"""

# The stages that count as late for CRM adoption, each with the days a deal may go without a logged call
# or meeting before it is "quiet" (config table).
_LATE_STAGES = """
CREATE TABLE IF NOT EXISTS late_stages (
    stage String,
    quiet_days UInt32
) ENGINE = MergeTree ORDER BY stage
"""

# Each open deal with the rate in force on its expected close (0 when the currency has no rate then).
# 18.16 has no ASOF join: every rate of the deal's currency is joined, the newest on or before the close
# date kept (argMax by valid_from).
_OPEN_DEALS_CONVERTED = """(
    SELECT opportunity_id, stage, owner, expected_close, toDecimal64(amount * rate, 2) AS converted,
        rate_found
    FROM (
        SELECT opportunity_id, stage, owner, amount, expected_close FROM sales_pipeline WHERE status = 'open'
    ) AS l ANY LEFT JOIN (
        SELECT opportunity_id, argMax(rate, valid_from) AS rate, toUInt8(1) AS rate_found
        FROM (
            SELECT opportunity_id, currency, expected_close FROM sales_pipeline WHERE status = 'open'
        ) AS deals ALL INNER JOIN (SELECT currency, valid_from, rate FROM fx_rates) AS rates USING currency
        WHERE valid_from <= expected_close
        GROUP BY opportunity_id
    ) AS r USING opportunity_id
)"""

_SALES_FORECAST_MONTHLY = f"""
CREATE VIEW IF NOT EXISTS sales_forecast_monthly AS
WITH (SELECT any(reporting_currency) FROM fx_rates) AS configured_currency
SELECT
    toStartOfMonth(expected_close) AS close_month,
    stage,
    owner,
    assumeNotNull(configured_currency) AS reporting_currency,
    count() AS opportunities,
    countIf(rate_found = 0) AS unconverted,
    sum(converted) AS pipeline,
    sum(converted * probability) AS weighted_pipeline
FROM {_OPEN_DEALS_CONVERTED} AS l ANY LEFT JOIN stage_probabilities USING stage
GROUP BY close_month, stage, owner
"""

# Calls and meetings logged on each open deal's contact (merged contacts re-pointed) since the deal was
# created. Ages are measured to the newest event in `touchpoints`, not the wall clock: a replay or a
# rebuild answers the same.
_CRM_DEAL_ACTIVITY = """
CREATE VIEW IF NOT EXISTS crm_deal_activity AS
WITH (SELECT max(occurred_at) FROM touchpoints) AS newest_event
SELECT
    opportunity_id, owner, contact_id, account_id, stage, created_at, calls, meetings,
    calls + meetings AS activities,
    last_activity_at,
    dateDiff('day', greatest(last_activity_at, created_at), assumeNotNull(newest_event))
        AS days_since_activity,
    toUInt8(quiet_days > 0) AS late_stage,
    quiet_days,
    toUInt8(quiet_days > 0 AND days_since_activity >= quiet_days) AS quiet,
    assumeNotNull(newest_event) AS as_of
FROM (
    SELECT opportunity_id, owner, contact_id, account_id, stage, created_at, calls, meetings,
        last_activity_at
    FROM (
        SELECT opportunity_id, owner, contact_id, account_id, stage, created_at
        FROM sales_pipeline
        WHERE status = 'open'
    ) AS l ANY LEFT JOIN (
        SELECT
            opportunity_id,
            countIf(type = 'CallLogged') AS calls,
            countIf(type = 'MeetingHeld') AS meetings,
            max(occurred_at) AS last_activity_at
        FROM (
            SELECT opportunity_id, contact_id, created_at FROM sales_pipeline WHERE status = 'open'
        ) AS deals ALL INNER JOIN (
            SELECT contact_id, type, occurred_at
            FROM touchpoints_current
            WHERE type IN ('CallLogged', 'MeetingHeld')
        ) AS logged USING contact_id
        WHERE occurred_at >= created_at
        GROUP BY opportunity_id
    ) AS r USING opportunity_id
) AS l ANY LEFT JOIN late_stages USING stage
"""

_CRM_ADOPTION = """
CREATE VIEW IF NOT EXISTS crm_adoption AS
SELECT
    owner,
    count() AS open_deals,
    sum(late_stage) AS late_stage_deals,
    sum(quiet) AS quiet_late_stage_deals,
    arraySort(groupArrayIf(opportunity_id, quiet = 1)) AS quiet_deals,
    sum(activities) AS logged_activities,
    logged_activities / open_deals AS activities_per_deal,
    max(last_activity_at) AS last_activity_at,
    dateDiff('day', last_activity_at, any(as_of)) AS days_since_last_activity,
    max(days_since_activity) AS stalest_deal_days
FROM crm_deal_activity
GROUP BY owner
"""

# --- migration 6: service holds per account, from the facts (merge-proof, order-independent) -----------

# The hold rules (config table, one row, from ProjectionConfig): the same numbers the fold's service_hold
# signal uses, and the scope of a hold over open opportunities ('account' or 'contact').
_HOLD_SETTINGS = """
CREATE TABLE IF NOT EXISTS hold_settings (
    hold_priorities Array(String),
    cool_down_seconds UInt32,
    csat_at_most UInt8,
    nps_at_most UInt8,
    survey_hold_seconds UInt32,
    scope String
) ENGINE = MergeTree ORDER BY tuple()
"""

# The rules and "now": the newest event's time, so the answer is the same on a replay or a rebuild.
_HOLD_RULES = """(
    SELECT hold_priorities, cool_down_seconds, csat_at_most, nps_at_most, survey_hold_seconds, scope, as_of
    FROM hold_settings CROSS JOIN (SELECT max(occurred_at) AS as_of FROM touchpoints) AS newest
)"""

# Tickets by ticket id (so a resolution recorded under a contact id later merged away still counts), each
# value the latest by (event time, event id): the arrival order changes nothing.
_HOLD_TICKETS = """(
    SELECT
        ticket_id,
        argMin(contact_id, (occurred_at, event_id)) AS ticket_contact,
        argMin(account_id, (occurred_at, event_id)) AS ticket_account,
        argMaxIf(priority, (occurred_at, event_id), priority != '') AS ticket_priority,
        argMaxIf(status, (occurred_at, event_id), status != '') AS ticket_status,
        argMin(event_id, (occurred_at, event_id)) AS first_event,
        argMax(event_id, (occurred_at, event_id)) AS last_event,
        min(occurred_at) AS opened_at,
        maxIf(occurred_at, status = 'solved') AS solved_at
    FROM touchpoints_current
    WHERE ticket_id != '' AND type IN ('TicketOpened', 'TicketUpdated', 'TicketResolved', 'TicketReopened')
    GROUP BY ticket_id
)"""

# Each contact's latest CSAT and latest NPS (by event time, then event id).
_HOLD_SURVEYS = """(
    SELECT
        contact_id AS survey_contact,
        type AS survey_type,
        argMax(survey_score, (occurred_at, event_id)) AS last_score,
        argMax(account_id, (occurred_at, event_id)) AS survey_account,
        argMax(event_id, (occurred_at, event_id)) AS survey_event,
        max(occurred_at) AS surveyed_at
    FROM (
        SELECT contact_id, type, assumeNotNull(score) AS survey_score, account_id, event_id, occurred_at
        FROM touchpoints_current
        WHERE type IN ('CsatSubmitted', 'NpsSubmitted')
    )
    GROUP BY contact_id, type
)"""

_HOLD_CAUSES = f"""(
    SELECT ticket_contact AS contact_id, ticket_account AS cause_account, 'ticket' AS cause,
        ticket_id AS cause_id,
        concat(ticket_priority, ' ticket ', ticket_id, if(ticket_status = 'solved', ' resolved', ' open'))
            AS detail,
        arrayDistinct([first_event, last_event]) AS evidence,
        opened_at AS held_from,
        if(ticket_status = 'solved', solved_at + cool_down_seconds, toDateTime('2100-01-01 00:00:00'))
            AS held_until,
        as_of
    FROM {_HOLD_TICKETS} AS t CROSS JOIN {_HOLD_RULES} AS rules
    WHERE has(hold_priorities, ticket_priority)
    UNION ALL
    SELECT survey_contact AS contact_id, survey_account AS cause_account,
        if(survey_type = 'CsatSubmitted', 'csat', 'nps') AS cause, survey_event AS cause_id,
        concat(if(survey_type = 'CsatSubmitted', 'CSAT ', 'NPS '), toString(last_score)) AS detail,
        [survey_event] AS evidence,
        surveyed_at AS held_from,
        surveyed_at + survey_hold_seconds AS held_until,
        as_of
    FROM {_HOLD_SURVEYS} AS v CROSS JOIN {_HOLD_RULES} AS rules
    WHERE last_score <= if(survey_type = 'CsatSubmitted', csat_at_most, nps_at_most)
)"""

# One row per hold cause (a high-priority ticket, open or cooling down; a bad latest survey), on the
# surviving contact and its account (the cause's own account, else the contact's); `active` as of the
# newest event.
_SERVICE_HOLDS = f"""
CREATE VIEW IF NOT EXISTS service_holds AS
SELECT contact_id, if(cause_account != '', cause_account, contact_account) AS account_id, cause, cause_id,
    detail, evidence, held_from, held_until, toUInt8(held_until > as_of) AS active, as_of
FROM (
    SELECT contact_id, cause_account, contact_account, cause, cause_id, detail, evidence, held_from,
        held_until, as_of
    FROM {_HOLD_CAUSES} AS c ANY LEFT JOIN (
        SELECT contact_id, account_id AS contact_account FROM customer_360_current
    ) AS a USING contact_id
)
"""

_ACCOUNT_SERVICE_HOLDS = """
CREATE VIEW IF NOT EXISTS account_service_holds AS
SELECT
    account_id,
    uniqExact(contact_id) AS contacts_held,
    count() AS holds,
    arraySort(groupArray(detail)) AS reasons,
    arraySort(groupUniqArrayArray(evidence)) AS hold_evidence,
    max(held_until) AS held_until
FROM service_holds
WHERE active = 1 AND account_id != ''
GROUP BY account_id
"""

# What a hold covers: the same account's contacts ('account' scope) or the contact only ('contact').
_HOLD_KEY = "if(scope = 'account' AND account_id != '', account_id, contact_id)"

_UPSELL_HOLDS = f"""
CREATE VIEW IF NOT EXISTS upsell_holds AS
SELECT opportunity_id, owner, account_id, contact_id, stage, scope AS hold_scope, toUInt8(holds > 0) AS held,
    holds, reasons, hold_evidence, held_until
FROM (
    SELECT opportunity_id, owner, account_id, contact_id, stage, scope, {_HOLD_KEY} AS hold_key
    FROM (
        SELECT opportunity_id, owner, account_id, contact_id, stage FROM sales_pipeline WHERE status = 'open'
    ) AS o CROSS JOIN (SELECT scope FROM hold_settings) AS rules
) AS l ANY LEFT JOIN (
    SELECT
        hold_key,
        count() AS holds,
        arraySort(groupArray(detail)) AS reasons,
        arraySort(groupUniqArrayArray(evidence)) AS hold_evidence,
        max(held_until) AS held_until
    FROM (
        SELECT {_HOLD_KEY} AS hold_key, detail, evidence, held_until
        FROM service_holds CROSS JOIN (SELECT scope FROM hold_settings) AS rules
        WHERE active = 1
    )
    GROUP BY hold_key
) AS r USING hold_key
"""

# active_signals again, without stale service holds: a `service_hold` signal shows only while its contact
# has an active cause in `service_holds` (a ticket resolved under a contact id later merged away lifts it).
_ACTIVE_SIGNALS_V6 = f"""
CREATE VIEW IF NOT EXISTS active_signals AS
SELECT contact_id, original_contact_id, signal_id, account_id, kind, department, reason, evidence, raised_at,
    expires_at
FROM ({_repointed("signals", _SIGNAL_COLUMNS)}
)
WHERE status = 'raised' AND expires_at > now()
    AND (kind != 'service_hold' OR contact_id IN (SELECT contact_id FROM service_holds WHERE active = 1))
"""

# --- migration 7: accounts with name, domain, industry and owner; every identifier a contact held ----------

# What the events say about an account: its domain (identifiers), its name (the company a form, a badge, a
# lead, observed details or a caller stated), an industry when a source sends one, and its owner (the latest
# sales owner). Each value is the latest by (event time, event id), with its source and time.
_ACCOUNTS = """
CREATE VIEW IF NOT EXISTS accounts AS
SELECT
    account_id,
    argMaxIf(stated_name, (occurred_at, event_id), stated_name != '') AS name,
    argMaxIf(source, (occurred_at, event_id), stated_name != '') AS name_source,
    maxIf(occurred_at, stated_name != '') AS name_at,
    argMaxIf(account_domain, (occurred_at, event_id), account_domain != '') AS domain,
    argMaxIf(source, (occurred_at, event_id), account_domain != '') AS domain_source,
    maxIf(occurred_at, account_domain != '') AS domain_at,
    argMaxIf(stated_industry, (occurred_at, event_id), stated_industry != '') AS industry,
    argMaxIf(sales_owner, (occurred_at, event_id), sales_owner != '') AS owner,
    maxIf(occurred_at, sales_owner != '') AS owner_at,
    uniqExact(contact_id) AS contacts,
    min(occurred_at) AS first_seen,
    max(occurred_at) AS last_seen
FROM (
    SELECT account_id, contact_id, source, occurred_at, event_id, account_domain,
        multiIf(
            type = 'ContactCenterCall', visitParamExtractString(payload, 'stated_company'),
            type IN ('FormSubmitted', 'EventBadgeScanned', 'LeadCreated', 'ContactDetailsObserved'),
                visitParamExtractString(payload, 'company'),
            ''
        ) AS stated_name,
        visitParamExtractString(payload, 'industry') AS stated_industry,
        if(department = 'sales', owner, '') AS sales_owner
    FROM touchpoints_current
    WHERE account_id != ''
)
GROUP BY account_id
"""

# Every email, phone and external id a contact was ever seen with, one row per value and contact id it was
# seen under (`original_contact_id`), on the survivor of any merge (`contact_id`): a customer is found by an
# identifier they held before a merge, and again under their own id after an unmerge. With where and when
# each was first and last seen. The value sits in a column named for its kind (`email`, `phone`,
# `external_id`), so the role rules that hide personal columns hide it. Erased contacts have none.
_IDENTIFIER_ROWS = """
    SELECT contact_id, original_contact_id, '{kind}' AS kind, {values}, source, occurred_at, event_id
    FROM touchpoints_current
    WHERE {column} != '' AND contact_id != ''{extra}"""

_CONTACT_IDENTIFIERS = f"""
CREATE VIEW IF NOT EXISTS contact_identifiers AS
SELECT
    contact_id,
    original_contact_id,
    kind,
    email,
    phone,
    external_id,
    min(occurred_at) AS first_seen,
    max(occurred_at) AS last_seen,
    argMin(source, (occurred_at, event_id)) AS first_source,
    argMax(source, (occurred_at, event_id)) AS last_source,
    count() AS events
FROM (
    {
    _IDENTIFIER_ROWS.format(
        kind="email", values="email, '' AS phone, '' AS external_id", column="email", extra=""
    )
}
    UNION ALL
    {
    _IDENTIFIER_ROWS.format(
        kind="phone", values="'' AS email, phone, '' AS external_id", column="phone", extra=""
    )
}
    UNION ALL
    {
    _IDENTIFIER_ROWS.format(
        kind="ext",
        values="'' AS email, '' AS phone, identifier AS external_id",
        column="identifier",
        extra=" AND identifier_kind = 'ext'",
    )
}
)
WHERE contact_id NOT IN (SELECT contact_id FROM customer_360_current WHERE erased = 1)
GROUP BY contact_id, original_contact_id, kind, email, phone, external_id
"""

# Callers who asked to buy, routed to the owner of the account the call resolved to.
_CALLER_LEADS = """
CREATE VIEW IF NOT EXISTS caller_leads AS
SELECT signal_id, contact_id, account_id, name AS account_name, owner AS routed_to, reason, evidence,
    raised_at, expires_at
FROM (
    SELECT signal_id, contact_id, account_id, reason, evidence, raised_at, expires_at
    FROM active_signals
    WHERE kind = 'caller_is_lead'
) AS l ANY LEFT JOIN (SELECT account_id, name, owner FROM accounts) AS r USING account_id
"""

# --- migration 8: the pipeline and the tickets break ties on event time by event id, not log position ----

# Two events of one deal or ticket in the same second were ordered by their log offset, i.e. by arrival;
# the event id is the same whatever the arrival order (issue 16: order independence).
_BY_EVENT_ID = [
    (name, "DROP TABLE IF EXISTS " + name, view.replace("log_offset", "event_id"))
    for name, view in (("sales_pipeline", _SALES_PIPELINE), ("support_tickets", _SUPPORT_TICKETS))
]

# --- migration 9: where and when each attribute of the 360 view was observed ------------------------------

_ATTRIBUTES = ("first_name", "last_name", "email", "phone", "company", "job_title")

# One row per contact (re-pointed: a merged contact's rows stay, under the survivor, with their
# `original_contact_id`) and attribute it holds: the source that sent it and the event time. The value stays
# in customer_360_current, behind the role rules for personal columns. The fold writes `attribute_sources`
# as {"name": {"source", "at"}}; 18.16 has no JSONExtract, visitParam reads it.
_ATTRIBUTE_PROVENANCE = "CREATE VIEW IF NOT EXISTS attribute_provenance AS\n" + "\nUNION ALL\n".join(
    f"""SELECT contact_id, original_contact_id, '{name}' AS attribute,
    visitParamExtractString(visitParamExtractRaw(attribute_sources, '{name}'), 'source') AS source,
    parseDateTimeBestEffortOrZero(
        visitParamExtractString(visitParamExtractRaw(attribute_sources, '{name}'), 'at')
    ) AS observed_at
FROM ({_repointed("customer_360", ["attribute_sources", "erased", *_ATTRIBUTES])}
)
WHERE {name} != '' AND erased = 0"""
    for name in _ATTRIBUTES
)

# --- migration 10: accounts whose service hold lifted lately ---------------------------------------------

# How long an account's lifted hold is news for sales (config table, from ProjectionConfig.hold_lifted_for).
_HOLD_LIFT_SETTINGS = """
CREATE TABLE IF NOT EXISTS hold_lift_settings (
    lifted_for_seconds UInt32
) ENGINE = MergeTree ORDER BY tuple()
"""

# An account with hold causes, none active any more, the last one ended within `lifted_for_seconds` of the
# newest event: sales may talk about more again. The account-level counterpart of `service_hold_lifted`
# (the fold sees one contact; this sees every contact of the account, merges re-pointed).
_ACCOUNT_HOLDS_LIFTED = """
CREATE VIEW IF NOT EXISTS account_holds_lifted AS
SELECT account_id, lifted_at, last_cause, hold_evidence, as_of
FROM (
    SELECT
        account_id,
        max(held_until) AS lifted_at,
        argMax(detail, (held_until, cause_id)) AS last_cause,
        argMax(evidence, (held_until, cause_id)) AS hold_evidence,
        any(as_of) AS as_of,
        sum(active) AS still_active
    FROM service_holds
    WHERE account_id != ''
    GROUP BY account_id
) AS holds CROSS JOIN hold_lift_settings
WHERE still_active = 0 AND lifted_at <= as_of AND lifted_at + lifted_for_seconds > as_of
"""

# --- migration 11: an account's name is its `company` --------------------------------------------------

# The account's name is the company people stated: the column is called `company`, the 360 field the role
# rules already guard (a role without the role-and-influence section does not read it through the door).
_ACCOUNTS_V11 = (
    _ACCOUNTS.replace(" AS name,", " AS company,")
    .replace(" AS name_source,", " AS company_source,")
    .replace(" AS name_at,", " AS company_at,")
)
_CALLER_LEADS_V11 = _CALLER_LEADS.replace("name AS account_name,", "company,").replace(
    "SELECT account_id, name, owner FROM accounts", "SELECT account_id, company, owner FROM accounts"
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "touchpoints fact table and dead letters", (_TOUCHPOINTS, _DEAD_LETTERS)),
    Migration(2, "customer 360, signals and the fold's state", (_CUSTOMER_360, _SIGNALS, _PROJECTION_STATE)),
    Migration(3, "contact merges and config tables", (_CONTACT_MERGES, _STAGE_PROBABILITIES, _SLA_TARGETS)),
    Migration(
        4,
        "analyst views",
        (
            _TOUCHPOINTS_CURRENT,
            _TIMELINE,
            _CUSTOMER_360_CURRENT,
            _ACCOUNT_360,
            _ACTIVE_SIGNALS,
            _SALES_PIPELINE,
            _SALES_STAGE_TRANSITIONS,
            _SALES_FUNNEL,
            _SALES_FORECAST,
            _CAMPAIGN_ENGAGEMENT,
            _CAMPAIGN_ATTRIBUTION,
            _SUPPORT_TICKETS,
            _SUPPORT_SLA_SUMMARY,
            _CSAT_BY_PERIOD,
            _NPS_BY_PERIOD,
            _COMPLAINT_THEMES,
            _DATA_QUALITY,
        ),
    ),
    Migration(
        5,
        "forecast by close month in one reporting currency; CRM adoption per rep",
        (_FX_RATES, _LATE_STAGES, _SALES_FORECAST_MONTHLY, _CRM_DEAL_ACTIVITY, _CRM_ADOPTION),
    ),
    Migration(
        6,
        "service holds per account from the facts; active_signals without stale holds",
        (
            _HOLD_SETTINGS,
            _SERVICE_HOLDS,
            _ACCOUNT_SERVICE_HOLDS,
            _UPSELL_HOLDS,
            "DROP TABLE IF EXISTS active_signals",  # 18.16 has no DROP VIEW; DROP TABLE drops a view
            _ACTIVE_SIGNALS_V6,
        ),
    ),
    Migration(
        7,
        "accounts with name, domain, industry and owner; every identifier a contact held; caller leads",
        (_ACCOUNTS, _CONTACT_IDENTIFIERS, _CALLER_LEADS),
    ),
    Migration(
        8,
        "pipeline and tickets: ties on event time broken by event id",
        tuple(statement for _, drop, create in _BY_EVENT_ID for statement in (drop, create)),
    ),
    Migration(9, "where and when each attribute was observed", (_ATTRIBUTE_PROVENANCE,)),
    Migration(10, "accounts whose service hold lifted lately", (_HOLD_LIFT_SETTINGS, _ACCOUNT_HOLDS_LIFTED)),
    Migration(
        11,
        "an account's name is its company (guarded by the role rules)",
        (
            "DROP TABLE IF EXISTS caller_leads",
            "DROP TABLE IF EXISTS accounts",
            _ACCOUNTS_V11,
            _CALLER_LEADS_V11,
        ),
    ),
)

# The analyst views, by stable name (docs/queries.md documents each).
VIEWS = (
    "touchpoints_current",
    "timeline",
    "customer_360_current",
    "account_360",
    "active_signals",
    "sales_pipeline",
    "sales_stage_transitions",
    "sales_funnel",
    "sales_forecast",
    "campaign_engagement",
    "campaign_attribution",
    "support_tickets",
    "support_sla_summary",
    "csat_by_period",
    "nps_by_period",
    "complaint_themes",
    "data_quality",
    "sales_forecast_monthly",
    "crm_deal_activity",
    "crm_adoption",
    "service_holds",
    "account_service_holds",
    "upsell_holds",
    "accounts",
    "contact_identifiers",
    "caller_leads",
    "attribute_provenance",
    "account_holds_lifted",
    "active_account_signals",
)

# Tables written by the projections, by model: what `touchstream rebuild --model NAME` recomputes.
MODELS: dict[str, tuple[str, ...]] = {
    "touchpoints": ("touchpoints", "dead_letters"),
    "customer_360": ("customer_360", "signals", "projection_state"),
}

# --- migration 12: find a customer by an identifier without scanning every contact ---------------------

# Which contact ids were ever written with an identifier: `email:<email>` and `phone:<E.164>` from the
# customer_360 rows, `ext:<system>:<id>` from the facts named by an external id. Ordered by the identifier,
# so a lookup reads one granule whatever the number of contacts. Only a candidate list: a reader keeps the
# ids whose current customer_360 row (or fact) still carries the value, and re-points merged ids to their
# survivor through `contact_merges` (so an identifier follows a merge, and comes back on an unmerge).
# The projection writes it (`streams/project.py`), a rebuild too (so a rebuild after this migration fills
# it from data written before); an erasure deletes the contact's rows (`streams/forgetting.py`).
_CONTACT_LOOKUP = """
CREATE TABLE IF NOT EXISTS contact_lookup (
    identifier String,
    contact_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (identifier, contact_id)
SETTINGS index_granularity = 256
"""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(12, "an identifier -> contact lookup table", (_CONTACT_LOOKUP,)),
)

# --- migration 13: a customer's deals and tickets without reading every fact --------------------------

# The facts of deals and tickets, one row per event and item (`o:<opportunity_id>`, `t:<ticket_id>`),
# ordered by the item: the columns sales_pipeline and support_tickets fold. `title` (a deal's name) may
# name its buyer: an erasure redacts it as it redacts touchpoints' (`streams/forgetting.py`). With
# `contact_items` (which items each contact id's events named, ordered by contact id) a 360 document reads
# its contact's deals and tickets as a few ranges of sorting keys, not the views over `touchpoints FINAL`.
# The projection and the rebuild write both (`streams/project.py`).
_WORK_FACTS = """
CREATE TABLE IF NOT EXISTS work_facts (
    item String,
    event_id String,
    contact_id String,
    type String,
    occurred_at DateTime,
    title String,
    stage String,
    amount Decimal(18, 2),
    currency String,
    owner String,
    expected_close Nullable(Date),
    priority String,
    status String,
    public_reply UInt8,
    product String,
    channel String,
    log_partition UInt32,
    log_offset UInt64
) ENGINE = ReplacingMergeTree(log_offset)
ORDER BY (item, event_id)
SETTINGS index_granularity = 256
"""

_CONTACT_ITEMS = """
CREATE TABLE IF NOT EXISTS contact_items (
    contact_id String,
    item String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (contact_id, item)
SETTINGS index_granularity = 256
"""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(13, "deals and tickets by item, and each contact's items", (_WORK_FACTS, _CONTACT_ITEMS)),
)

# --- migration 14: account-level signals -----------------------------------------------------------------

# Signals about an account as a whole, raised and cleared by a pass over the read models
# (projections/account_signals.py): today `service_hold_lifted` when every hold of the account's contacts
# has ended. Shaped like `signals` without the contact; the newest version of a signal wins.
_ACCOUNT_SIGNALS = """
CREATE TABLE IF NOT EXISTS account_signals (
    signal_id String,
    account_id String,
    kind String,
    department String,
    status String,
    reason String,
    evidence Array(String),
    raised_at DateTime,
    expires_at DateTime,
    cleared_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, signal_id)
SETTINGS index_granularity = 256
"""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(14, "account-level signals (an account's service hold lifted)", (_ACCOUNT_SIGNALS,)),
)

# --- migration 15: an anonymous caller merged into its person reads as that person's own ------------------

# Whether a call reaches its person through an anonymous caller's contact (merged into the person once the
# number's holder is known, reason `anonymous_caller`: projections/identity.py) or directly depends on the
# order the partitioned raw log delivers one person's events in. These views make the two alike at query
# time: a fact of such a merged contact takes the survivor as its `original_contact_id` (it never was a
# person of its own: no row of its own in contact_identifiers or the timeline) and, having no account, the
# survivor's; its `caller_is_lead` signal ends with the merge (the caller is a known person now, whose own
# fold decides); the 360 row neither counts it as a merged contact nor takes its lifecycle stage, health
# score or caller_is_lead signal. (The person's own fold never saw those calls: its lead score and what
# follows from it still differ between the two orders.)
_ANONYMOUS_MAP = (
    "(SELECT merged_id AS contact_id, survivor_id, toUInt8(reason = 'anonymous_caller') AS anonymous "
    "FROM contact_merges FINAL WHERE active = 1)"
)


def _repointed_v15(table: str, columns: list[str]) -> str:
    """`_repointed` where an anonymous caller's merged contact reads as its survivor (see above); `anonymous`
    is 1 on its rows. 18.16 substitutes a SELECT alias into the USING key: every renamed column is named one
    level above the join that produced it, under a name of its own."""
    listed = ", ".join(columns)
    return f"""
SELECT contact_id, if(anonymous = 1, contact_id, fact_contact_id) AS original_contact_id, anonymous, {listed}
FROM (
    SELECT if(survivor_id = '', fact_contact_id, survivor_id) AS contact_id, fact_contact_id, anonymous,
        {listed}
    FROM (
        SELECT original_contact_id AS fact_contact_id, survivor_id, anonymous, {listed}
        FROM (SELECT contact_id, contact_id AS original_contact_id, {listed} FROM {table} FINAL) AS l
        ANY LEFT JOIN {_ANONYMOUS_MAP} AS r USING contact_id
    )
)"""


_FACT_COLUMNS_V15 = ["fact_account_id" if c == "account_id" else c for c in _FACT_COLUMNS]
_TOUCHPOINTS_CURRENT_V15 = f"""
CREATE VIEW IF NOT EXISTS touchpoints_current AS
SELECT contact_id, original_contact_id, {
    ", ".join(
        "if(anonymous = 1 AND fact_account_id = '', survivor_account_id, fact_account_id) AS account_id"
        if c == "account_id"
        else c
        for c in _FACT_COLUMNS
    )
}
FROM (
    SELECT contact_id, original_contact_id, anonymous, survivor_account_id, {", ".join(_FACT_COLUMNS_V15)}
    FROM (
        SELECT contact_id, original_contact_id, anonymous, account_id AS fact_account_id, {
    ", ".join(c for c in _FACT_COLUMNS if c != "account_id")
}
        FROM ({_repointed_v15("touchpoints", _FACT_COLUMNS)})
    ) AS l
    ANY LEFT JOIN (SELECT contact_id, account_id AS survivor_account_id FROM customer_360 FINAL) AS r
    USING contact_id
)
"""

_ACTIVE_SIGNALS_V15 = (
    _ACTIVE_SIGNALS_V6.replace(
        _repointed("signals", _SIGNAL_COLUMNS), _repointed_v15("signals", _SIGNAL_COLUMNS)
    )
    + "    AND NOT (kind = 'caller_is_lead' AND anonymous = 1)\n"
)

_CUSTOMER_360_CURRENT_V15 = (
    _CUSTOMER_360_CURRENT.replace(
        _repointed("customer_360", _PROFILE_COLUMNS), _repointed_v15("customer_360", _PROFILE_COLUMNS)
    )
    .replace("min(health_score) AS health_score", "minIf(health_score, anonymous = 0) AS health_score")
    .replace("count() - 1 AS merged_contacts", "countIf(anonymous = 0) - 1 AS merged_contacts")
    .replace(
        "argMax(lifecycle_stage, seen_at) AS lifecycle_stage",
        "argMaxIf(lifecycle_stage, seen_at, anonymous = 0) AS lifecycle_stage",
    )
    .replace(
        "arraySort(groupUniqArrayArray(active_signals)) AS active_signals",
        "arraySort(groupUniqArrayArray("
        "arrayFilter(k -> anonymous = 0 OR k != 'caller_is_lead', active_signals))) AS active_signals",
    )
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        15,
        "an anonymous caller merged into its person reads as that person's own",
        (
            "DROP TABLE IF EXISTS touchpoints_current",
            _TOUCHPOINTS_CURRENT_V15,
            "DROP TABLE IF EXISTS active_signals",
            _ACTIVE_SIGNALS_V15,
            "DROP TABLE IF EXISTS customer_360_current",
            _CUSTOMER_360_CURRENT_V15,
        ),
    ),
)

# --- migration 16: an account's live account-level signals, one shape for the API and the SQL door -------

# The newest version of each account-level signal (argMax by version, as `account_signals` is replaced),
# kept while raised and not expired: what GET /v1/accounts/{id} answers, and what the SQL door serves.
_ACTIVE_ACCOUNT_SIGNALS = """
CREATE VIEW IF NOT EXISTS active_account_signals AS
SELECT signal_id, account_id, kind, department, reason, evidence, raised_at, expires_at
FROM (
    SELECT account_id, signal_id, argMax(kind, version) AS kind, argMax(department, version) AS department,
        argMax(status, version) AS status, argMax(reason, version) AS reason,
        argMax(evidence, version) AS evidence, argMax(raised_at, version) AS raised_at,
        argMax(expires_at, version) AS expires_at
    FROM account_signals
    GROUP BY account_id, signal_id
)
WHERE status = 'raised' AND expires_at > now()
"""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        16,
        "an account's raised account-level signals, the newest version of each",
        (_ACTIVE_ACCOUNT_SIGNALS,),
    ),
)

# --- migration 17: an anonymous caller's calls belong to its person, whatever the order ------------------

# Since the resolve step hands an anonymous caller's calls to the person its contact merges into (the facts
# re-attributed: streams/resolve.py), the person's own fold has seen every call, as when the calls reached
# the person directly. The merged caller's contact is then a leftover of the arrival order: its 360 row,
# its signals, its attribute sources and its missing fields are left out of the views (its facts already
# read as the person's).
# `GLOBAL NOT IN`: on a cluster both tables are Distributed, and each host checks an ON CLUSTER view
# without the client's `distributed_product_mode`.
ANONYMOUS_MERGED = (
    "(SELECT merged_id FROM contact_merges FINAL WHERE active = 1 AND reason = 'anonymous_caller')"
)

_CUSTOMER_360_CURRENT_V17 = _CUSTOMER_360_CURRENT_V15.replace(
    "GROUP BY contact_id", "WHERE anonymous = 0\nGROUP BY contact_id"
)

_ACTIVE_SIGNALS_V17 = _ACTIVE_SIGNALS_V15.replace(
    "AND NOT (kind = 'caller_is_lead' AND anonymous = 1)", "AND anonymous = 0"
)

_ATTRIBUTE_PROVENANCE_V17 = _ATTRIBUTE_PROVENANCE.replace(
    " != '' AND erased = 0",
    f" != '' AND erased = 0 AND original_contact_id GLOBAL NOT IN {ANONYMOUS_MERGED}",
)

_DATA_QUALITY_V17 = _DATA_QUALITY.replace(
    "WHERE erased = 0 AND (email = '' OR first_name = '' OR last_name = '')",
    "WHERE erased = 0 AND (email = '' OR first_name = '' OR last_name = '')\n"
    f"        AND contact_id GLOBAL NOT IN {ANONYMOUS_MERGED}",
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        17,
        "an anonymous caller merged into its person: its calls are the person's, its own rows left out",
        (
            "DROP TABLE IF EXISTS customer_360_current",
            _CUSTOMER_360_CURRENT_V17,
            "DROP TABLE IF EXISTS active_signals",
            _ACTIVE_SIGNALS_V17,
            "DROP TABLE IF EXISTS attribute_provenance",
            _ATTRIBUTE_PROVENANCE_V17,
            "DROP TABLE IF EXISTS data_quality",
            _DATA_QUALITY_V17,
        ),
    ),
)

# --- migration 18: tickets and deals are open or closed in a merge group as their latest status says ------

# A ticket opened under one contact and resolved under another (two records of one person, merged later)
# was open in the first contact's fold and closed in the second's; summing the rows counted it open. Each
# row now carries its tickets' statuses and priorities with the (event time, event id) that set them
# (`customer_360.ticket_entries`), and the group takes each ticket's latest; likewise its deals, open with
# their amount or closed (`customer_360.opportunity_entries`: a closed entry sorts above the open ones).
# Rows written before this migration have no entries: their own counts are added as before, until they are
# projected again.
_ENTRY_COLUMNS = ["ticket_status", "ticket_priority", "opportunity_entries"]
_ENTRY_ID = "splitByChar('\\x1f', {})[1]"
_OPEN_TICKETS_V18 = f"""sumIf(open_tickets, empty(ticket_status))
        + length(arrayFilter((x, n) -> n = 1 AND endsWith(x, '\\x1f1'),
            arrayReverseSort(groupArrayArray(ticket_status)) AS latest_ticket_status,
            arrayEnumerateUniq(arrayMap(y -> {_ENTRY_ID.format("y")}, latest_ticket_status)))
        AS open_ticket_status) AS open_tickets"""
_WORST_OPEN_PRIORITY_V18 = f"""arrayReduce('min', arrayFilter(p -> p != '', arrayConcat(
        [ifNull(minIf(worst_open_priority, empty(ticket_status)), '')],
        arrayMap(x -> splitByChar('\\x1f', x)[4], arrayFilter((x, n) -> n = 1
            AND has(arrayMap(y -> {_ENTRY_ID.format("y")}, open_ticket_status), {_ENTRY_ID.format("x")}),
            arrayReverseSort(groupArrayArray(ticket_priority)) AS latest_ticket_priority,
            arrayEnumerateUniq(arrayMap(y -> {_ENTRY_ID.format("y")}, latest_ticket_priority))))
    ))) AS worst_open_priority"""

_OPEN_OPPORTUNITIES_V18 = f"""sumIf(open_opportunities, empty(opportunity_entries))
        + length(arrayFilter((x, n) -> n = 1 AND NOT endsWith(x, '~closed'),
            arrayReverseSort(groupArrayArray(opportunity_entries)) AS latest_opportunity_entries,
            arrayEnumerateUniq(arrayMap(y -> {_ENTRY_ID.format("y")}, latest_opportunity_entries)))
        AS open_opportunity_entries) AS open_opportunities"""
_OPEN_PIPELINE_V18 = """sumIf(open_pipeline, empty(opportunity_entries))
        + arrayReduce('sum',
            arrayMap(x -> toDecimal64(splitByChar('\\x1f', x)[3], 2), open_opportunity_entries)
        ) AS open_pipeline"""

_CUSTOMER_360_CURRENT_V18 = (
    _CUSTOMER_360_CURRENT_V17.replace(
        _repointed_v15("customer_360", _PROFILE_COLUMNS),
        _repointed_v15("customer_360", [*_PROFILE_COLUMNS, *_ENTRY_COLUMNS]),
    )
    .replace("sum(open_tickets) AS open_tickets", _OPEN_TICKETS_V18)
    .replace("sum(open_opportunities) AS open_opportunities", _OPEN_OPPORTUNITIES_V18)
    .replace("sum(open_pipeline) AS open_pipeline", _OPEN_PIPELINE_V18)
    .replace(
        "ifNull(minIf(worst_open_priority, worst_open_priority != ''), '') AS worst_open_priority",
        _WORST_OPEN_PRIORITY_V18,
    )
)

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        18,
        "a ticket or deal open under one merged contact and closed under another is closed",
        (
            # One column a statement: `adapters/storage/migrate.py` skips a column already added.
            *(f"ALTER TABLE customer_360 ADD COLUMN {c} Array(String)" for c in _ENTRY_COLUMNS),
            "DROP TABLE IF EXISTS customer_360_current",
            _CUSTOMER_360_CURRENT_V18,
        ),
    ),
)

# --- migration 19: a contact's own 360 fields in one column ---------------------------------------------

# `profile`: the fields the API's 360 document shows of a contact's own row (projections/customer_360.py
# PROFILE_FIELDS), as JSON. A document of a contact never merged (most) reads this one column instead of
# ~40. Rows written before keep '' and are read column by column, as before. Erasure needs nothing more:
# the erased contact's rows are deleted but its tombstone, whose profile is the erased state's.
MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        19,
        "a contact's own 360 fields in one column",
        ("ALTER TABLE customer_360 ADD COLUMN profile String",),
    ),
)

# --- migration 20: a merge group read by its survivor ----------------------------------------------------

# A contact's merge group is its survivor and every contact merged into it: `contact_merges` is ordered by
# the merged id, so "merged into S" read every row of it (30 ms a document at 200k merges, chDB). The same
# merges ordered by survivor, written beside them (`streams/steps.py` `write_merges`); the statement after
# fills it from the merges a store held before.
_MERGE_MEMBERS = """
CREATE TABLE IF NOT EXISTS merge_members (
    survivor_id String,
    merged_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (survivor_id, merged_id)
SETTINGS index_granularity = 256
"""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        20,
        "a merge group read by its survivor",
        (
            _MERGE_MEMBERS,
            # Every active version, not FINAL (a Distributed table on a cluster): the older ones are
            # candidates a reader drops. Applied again after an interruption, it writes the same rows once
            # more, and the engine keeps one.
            "INSERT INTO merge_members (survivor_id, merged_id, version) "
            "SELECT survivor_id, merged_id, version FROM contact_merges WHERE active = 1",
        ),
    ),
)

# --- migration 21: a contact's timeline without reading every fact --------------------------------------

# `touchpoints` is ordered by event id, so a contact's timeline (the API's, newest first) read all of it:
# ~26 ms at 500k facts, growing with them. The columns the timeline shows, one row per contact id and
# fact, ordered by contact id and time. A fact handed again to another contact (a re-attributed call) keeps
# its first row too: a reader takes each event's latest (`log_offset`) within the merge group it reads.
# `summary` may name the person: an erasure redacts it as in `touchpoints` (`streams/forgetting.py`). The
# projection and the rebuild write it (`streams/project.py`); the statement after fills it from the facts
# a store held before (every version: a reader reads FINAL).
_CONTACT_TIMELINE = """
CREATE TABLE IF NOT EXISTS contact_timeline (
    contact_id String,
    occurred_at DateTime,
    event_id String,
    department String,
    type String,
    source String,
    summary String,
    log_offset UInt64
) ENGINE = ReplacingMergeTree(log_offset)
ORDER BY (contact_id, occurred_at, event_id)
SETTINGS index_granularity = 256
"""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        21,
        "a contact's timeline without reading every fact",
        (
            _CONTACT_TIMELINE,
            "INSERT INTO contact_timeline "
            "(contact_id, occurred_at, event_id, department, type, source, summary, log_offset) "
            "SELECT contact_id, occurred_at, event_id, department, type, source, summary, log_offset "
            "FROM touchpoints WHERE contact_id != ''",
        ),
    ),
)

# --- migration 22: an account's contacts without reading every contact ----------------------------------

# The API's account view read `account_360` and `customer_360_current`, views over every contact (266 ms an
# account at 100k contacts, chDB). The contact ids ever written with each account, ordered by the account:
# candidates for the views' own SQL over their merge groups (adapters/api/queries/accounts.py), which keeps
# the groups whose current account it is. The projection and the rebuild write it (`streams/project.py`);
# the statement after fills it from the 360 rows a store held before.
_ACCOUNT_MEMBERS = """
CREATE TABLE IF NOT EXISTS account_members (
    account_id String,
    contact_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, contact_id)
SETTINGS index_granularity = 256
"""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        22,
        "an account's contacts without reading every contact",
        (
            _ACCOUNT_MEMBERS,
            "INSERT INTO account_members (account_id, contact_id, version) "
            "SELECT account_id, contact_id, version FROM customer_360 WHERE account_id != ''",
        ),
    ),
)


def engine_of(table: str) -> str | None:
    """The ENGINE clause (engine, partitioning, sorting key, settings) of `table`'s CREATE TABLE as the
    migrations hold it today, or None when no migration creates it."""
    create = re.compile(rf"CREATE TABLE IF NOT EXISTS {re.escape(table)} \(.*?\)\s*(ENGINE\s*=.*)\Z", re.S)
    for migration in MIGRATIONS:
        for statement in migration.statements:
            if found := create.search(statement.strip()):
                return " ".join(found.group(1).split())
    return None
