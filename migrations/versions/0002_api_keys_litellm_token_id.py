"""api_keys.litellm_token_id: LiteLLM's token id (sha256 of the secret), unique, nullable

Existing rows keep NULL until `flask backfill-tokens` (or their first usage view) fills it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("litellm_token_id", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_api_keys_litellm_token_id"), ["litellm_token_id"], unique=True
        )


def downgrade():
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_litellm_token_id"))
        batch_op.drop_column("litellm_token_id")
