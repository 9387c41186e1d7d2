"""api_keys.litellm_created_at: when LiteLLM made the key, where its lifetime starts

A key imported by `flask backfill-tokens` or adopted by reconcile lived in LiteLLM before its
portal row, so its lifetime spend must not start at the row's `created_at`. Filled at creation,
and for older keys from LiteLLM's `created_at` the first time the keys page lists them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("litellm_created_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE api_keys DROP COLUMN litellm_created_at")  # in place (>= 3.35)
        return
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("litellm_created_at")
