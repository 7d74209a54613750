from itsm_kit.migrations import run_env
from itsm_knowledge.settings import KnowledgeSettings
from itsm_knowledge.store.tables import metadata

run_env(metadata, KnowledgeSettings)
