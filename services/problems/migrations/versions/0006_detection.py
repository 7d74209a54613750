"""problems: detection (incident observations, rules, who opened a problem), full-text search, link suggestions

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0006"
down_revision = "0005"

# The default rules (README.md, "Problem detection"): fixed ids, so that an operator can name them.
DEFAULT_RULES = [
    # One CI failing three times in a day is rarely chance: the classic problem trigger.
    ("00000000-0000-4000-8000-000000000001", "Same CI: 3 incidents within 24 h", "ci", 3, 1440, True, 2, 2),
    # A business service gathers incidents from many CIs: a higher bar before it is called a pattern.
    ("00000000-0000-4000-8000-000000000002", "Same business service: 5 incidents within 24 h", "business_service",
     5, 1440, True, 2, 2),
    # Categories are broad (network, software...): ten a day is ordinary for most desks, so off until tuned.
    ("00000000-0000-4000-8000-000000000003", "Same category: 10 incidents within 24 h", "category", 10, 1440,
     False, 3, 3),
]

# A problem's searchable text, one row per problem: its own text and its published known error's, weighted.
# Kept by triggers on both tables, so that whoever writes a problem or a known error keeps it current.
SEARCH_FUNCTIONS = [
    """CREATE FUNCTION problem_search_refresh(pid text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO problem_search (problem_id, search)
    SELECT p.id,
           setweight(to_tsvector('english', p.short_description), 'A')
           || setweight(to_tsvector('english', p.description), 'B')
           || setweight(to_tsvector('english', coalesce(p.root_cause, '')), 'C')
           || setweight(to_tsvector('english', coalesce(k.title, '') || ' ' || coalesce(k.symptoms, '')), 'A')
    FROM problems p LEFT JOIN known_errors k ON k.problem_id = p.id AND k.state = 'published'
    WHERE p.id = pid
    ON CONFLICT (problem_id) DO UPDATE SET search = excluded.search
$$""",
    """CREATE FUNCTION problem_search_of_problem() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM problem_search_refresh(NEW.id);
    RETURN NULL;
END $$""",
    """CREATE FUNCTION problem_search_of_known_error() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM problem_search_refresh(NEW.problem_id);
    RETURN NULL;
END $$""",
    """CREATE TRIGGER problem_search_on_insert AFTER INSERT ON problems
    FOR EACH ROW EXECUTE FUNCTION problem_search_of_problem()""",
    """CREATE TRIGGER problem_search_on_update AFTER UPDATE ON problems FOR EACH ROW
    WHEN (OLD.short_description IS DISTINCT FROM NEW.short_description
          OR OLD.description IS DISTINCT FROM NEW.description OR OLD.root_cause IS DISTINCT FROM NEW.root_cause)
    EXECUTE FUNCTION problem_search_of_problem()""",
    """CREATE TRIGGER problem_search_on_known_error AFTER INSERT OR UPDATE ON known_errors
    FOR EACH ROW EXECUTE FUNCTION problem_search_of_known_error()""",
]


def upgrade() -> None:
    for name, kind in (("detection_rule_id", sa.String(36)), ("detected_on", sa.String(20)),
                       ("detected_value", sa.String(255))):
        op.add_column("problems", sa.Column(name, kind))
    op.create_index("problems_open_detection", "problems", ["detected_on", "detected_value"], unique=True,
                    postgresql_where=sa.text("detected_on IS NOT NULL AND state NOT IN ('closed', 'canceled')"))
    op.create_table(
        "incident_observations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("affected_ci", sa.String(255)),
        sa.Column("business_service", sa.String(255)),
        sa.Column("category", sa.String(100)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("short_description", sa.String(160), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("parent_id", sa.String(36)),
    )
    for name, column in (("ci", "affected_ci"), ("business_service", "business_service"),
                         ("category", "category")):
        op.create_index(f"incident_observations_by_{name}", "incident_observations", [column, "opened_at"])
    op.create_index("incident_observations_by_opened", "incident_observations", ["opened_at"])
    rules = op.create_table(
        "detection_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("window_minutes", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("impact", sa.Integer, nullable=False),
        sa.Column("urgency", sa.Integer, nullable=False),
        sa.Column("assignment_group", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    now = sa.func.now()
    op.execute(rules.insert().values([
        {"id": id, "name": name, "dimension": dimension, "threshold": threshold, "window_minutes": window,
         "enabled": enabled, "impact": impact, "urgency": urgency, "assignment_group": None, "created_at": now,
         "updated_at": now, "updated_by": "system", "version": 1}
        for id, name, dimension, threshold, window, enabled, impact, urgency in DEFAULT_RULES]))
    op.create_table(
        "link_suggestions",
        sa.Column("incident_id", sa.String(36), primary_key=True),
        sa.Column("problem_id", sa.String(36), sa.ForeignKey("problems.id"), primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("known_error_id", sa.String(36)),
        sa.Column("suggested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "problem_search",
        sa.Column("problem_id", sa.String(36), sa.ForeignKey("problems.id"), primary_key=True),
        sa.Column("search", TSVECTOR, nullable=False),
    )
    op.create_index("problem_search_by_text", "problem_search", ["search"], postgresql_using="gin")
    for statement in SEARCH_FUNCTIONS:
        op.execute(statement)
    op.execute("SELECT problem_search_refresh(id) FROM problems")  # the problems from before


def downgrade() -> None:
    op.execute("DROP TRIGGER problem_search_on_known_error ON known_errors")
    op.execute("DROP TRIGGER problem_search_on_update ON problems")
    op.execute("DROP TRIGGER problem_search_on_insert ON problems")
    for function in ("problem_search_of_known_error()", "problem_search_of_problem()",
                     "problem_search_refresh(text)"):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("problem_search")
    op.drop_table("link_suggestions")
    op.drop_table("detection_rules")
    op.drop_table("incident_observations")
    op.drop_index("problems_open_detection", table_name="problems")
    for name in ("detected_value", "detected_on", "detection_rule_id"):
        op.drop_column("problems", name)
