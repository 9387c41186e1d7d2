"""api_key_tokens: every token id a key has had (its lineage across rotations)

Every existing api_keys.litellm_token_id is copied in as the key's current token (source
'migration', current since the key was created), so no key loses its usage history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_key_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("became_current_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_api_key_tokens_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key_tokens")),
        sa.UniqueConstraint("token_id", name=op.f("uq_api_key_tokens_token_id")),
    )
    with op.batch_alter_table("api_key_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_tokens_api_key_id"), ["api_key_id"])
    op.execute(
        "INSERT INTO api_key_tokens (api_key_id, token_id, became_current_at, source) "
        "SELECT id, litellm_token_id, created_at, 'migration' FROM api_keys "
        "WHERE litellm_token_id IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table("api_key_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_tokens_api_key_id"))
    op.drop_table("api_key_tokens")
