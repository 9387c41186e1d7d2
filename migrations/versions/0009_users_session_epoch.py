"""users.session_epoch: sign-out ends the session on the server, not only in the browser

A session cookie carries the epoch its user had at sign-in; sign-out raises the epoch, so every
cookie of that user (a copied one included) stops working. Sessions made before this revision
carry none and end at once (their users sign in again).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        # A batch drop would copy the table, and dropping the original users table fails on
        # the rows of api_keys and audit_events that point at it; SQLite >= 3.35 drops a
        # column in place.
        op.execute("ALTER TABLE users DROP COLUMN session_epoch")
        return
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
