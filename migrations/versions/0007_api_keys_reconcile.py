"""api_keys: the portal request id sent in LiteLLM metadata, and what flask reconcile-keys
last learnt from LiteLLM (missing since, spend, blocked, when checked)

Additive only: new nullable columns, no rows touched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("litellm_missing_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("litellm_spend", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("litellm_blocked", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("litellm_checked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_api_keys_request_id"), ["request_id"])


def downgrade():
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_api_keys_request_id"), type_="unique")
        batch_op.drop_column("litellm_checked_at")
        batch_op.drop_column("litellm_blocked")
        batch_op.drop_column("litellm_spend")
        batch_op.drop_column("litellm_missing_since")
        batch_op.drop_column("request_id")
