"""Every write to deals, pipelines and stages — one module per subject, one transaction per call;
each writes its audit rows and domain events in that transaction. UI, API, automation and imports
all call these (import from here: the modules inside are the package's own layout)."""

from voronka.deals.services.deal import deal_create, deal_delete, deal_update
from voronka.deals.services.fields import (
    AUDITED,
    CREATE_DEAL_FIELDS,
    DEAL_FIELDS,
    UPDATABLE_DEAL_FIELDS,
)
from voronka.deals.services.moves import deal_move_to_stage
from voronka.deals.services.pipelines import (
    STAGE_FIELDS,
    pipeline_create,
    pipeline_rename,
    stage_create,
    stage_delete,
    stage_update,
    stages_reorder,
)
from voronka.deals.services.stage_entry import (
    StageEntry,
    required_field_labels,
    stage_entry,
    stage_missing_fields,
)

__all__ = [
    "AUDITED",
    "CREATE_DEAL_FIELDS",
    "DEAL_FIELDS",
    "STAGE_FIELDS",
    "StageEntry",
    "UPDATABLE_DEAL_FIELDS",
    "deal_create",
    "deal_delete",
    "deal_move_to_stage",
    "deal_update",
    "pipeline_create",
    "pipeline_rename",
    "required_field_labels",
    "stage_create",
    "stage_delete",
    "stage_entry",
    "stage_missing_fields",
    "stage_update",
    "stages_reorder",
]
