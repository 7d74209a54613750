from itsm_kit.migrations import run_env
from itsm_problems.settings import ProblemsSettings
from itsm_problems.store import metadata

run_env(metadata, ProblemsSettings)
