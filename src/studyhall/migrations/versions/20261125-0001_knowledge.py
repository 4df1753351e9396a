"""knowledge: documents, chunks and vectors, index versions, library links, curriculum sources

Revision ID: 0002_knowledge
Revises: 0001_foundation
Create Date: 2026-11-25 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import studyhall.core.models

revision: str = "0002_knowledge"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = ("knowledge",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_collections",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("index_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_knowledge_collections")),
    )

    op.create_table(
        "knowledge_documents",
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "processing",
                "ready",
                "failed",
                name="documentstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("pages_without_text", sa.JSON(), nullable=False),
        sa.Column("ocr_pages", sa.JSON(), nullable=False),
        sa.Column("first_page_label", sa.String(length=32), nullable=True),
        sa.Column("last_page_label", sa.String(length=32), nullable=True),
        sa.Column("level", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("reference_id", sa.Uuid(), nullable=True),
        sa.Column("processed_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_documents")),
    )

    with op.batch_alter_table("knowledge_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_documents_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_knowledge_documents_embedding_model"), ["embedding_model"], unique=False
        )
        batch_op.create_index(
            "ix_knowledge_documents_library", ["course_id", "subject", "level"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_knowledge_documents_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_documents_status"), ["status"], unique=False)

    op.create_table(
        "knowledge_sources",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("max_depth", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "last_synced_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_sources")),
    )

    op.create_table(
        "knowledge_chunks",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("page_label", sa.String(length=32), nullable=True),
        sa.Column("heading", sa.String(length=500), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("embedding_dim", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name=op.f("fk_knowledge_chunks_document_id_knowledge_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunks")),
        sa.UniqueConstraint(
            "document_id", "position", name=op.f("uq_knowledge_chunks_document_id_position")
        ),
    )

    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_chunks_course_id"), ["course_id"], unique=False
        )

    op.create_table(
        "knowledge_course_library",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name=op.f("fk_knowledge_course_library_document_id_knowledge_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "course_id", "document_id", name=op.f("pk_knowledge_course_library")
        ),
    )

    with op.batch_alter_table("knowledge_course_library", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_course_library_document_id"), ["document_id"], unique=False
        )

    op.create_table(
        "knowledge_references",
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("found_on", sa.String(length=2000), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "queued",
                "ingested",
                "failed",
                name="referencestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("first_run_id", sa.Uuid(), nullable=True),
        sa.Column("last_seen_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["knowledge_sources.id"],
            name=op.f("fk_knowledge_references_source_id_knowledge_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_references")),
        sa.UniqueConstraint("source_id", "url", name=op.f("uq_knowledge_references_source_id_url")),
    )

    with op.batch_alter_table("knowledge_references", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_references_source_id"), ["source_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_knowledge_references_status"), ["status"], unique=False
        )

    op.create_table(
        "knowledge_sync_runs",
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                name="runstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("found_count", sa.Integer(), nullable=False),
        sa.Column("new_count", sa.Integer(), nullable=False),
        sa.Column("pages_visited", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", studyhall.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["knowledge_sources.id"],
            name=op.f("fk_knowledge_sync_runs_source_id_knowledge_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_sync_runs")),
    )

    with op.batch_alter_table("knowledge_sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_sync_runs_source_id"), ["source_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_sync_runs_source_id"))

    op.drop_table("knowledge_sync_runs")

    with op.batch_alter_table("knowledge_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_references_status"))
        batch_op.drop_index(batch_op.f("ix_knowledge_references_source_id"))

    op.drop_table("knowledge_references")

    with op.batch_alter_table("knowledge_course_library", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_course_library_document_id"))

    op.drop_table("knowledge_course_library")

    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_chunks_course_id"))

    op.drop_table("knowledge_chunks")

    op.drop_table("knowledge_sources")

    with op.batch_alter_table("knowledge_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_documents_status"))
        batch_op.drop_index(batch_op.f("ix_knowledge_documents_sha256"))
        batch_op.drop_index("ix_knowledge_documents_library")
        batch_op.drop_index(batch_op.f("ix_knowledge_documents_embedding_model"))
        batch_op.drop_index(batch_op.f("ix_knowledge_documents_course_id"))

    op.drop_table("knowledge_documents")

    op.drop_table("knowledge_collections")
