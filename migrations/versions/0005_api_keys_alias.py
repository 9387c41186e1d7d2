"""api_keys.name becomes api_keys.alias: it holds the key's LiteLLM key_alias, while the name the
owner typed is api_keys.label

A rename only: rows, the column's type and its uniqueness are kept (the unique constraint is
renamed with it). SQLite rebuilds the table in batch mode; PostgreSQL renames in place.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _rename(old: str, new: str) -> None:
    # Two batches: SQLite's table rebuild loses a constraint created on a column renamed in the
    # same batch.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column(
            old, new_column_name=new, existing_type=sa.String(length=255), existing_nullable=False
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(f"uq_api_keys_{old}"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f(f"uq_api_keys_{new}"), [new])


def upgrade():
    _rename("name", "alias")


def downgrade():
    _rename("alias", "name")
