"""api_keys.budget_duration: the budget window the key was created with (e.g. 1d, 7d, 1mo)

LiteLLM resets the key's spend at the end of each window; the portal keeps its own copy so the
key page can still say which window applies when LiteLLM does not answer. Nullable: keys made
before (and keys without a window) have none.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("budget_duration", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("budget_duration")
