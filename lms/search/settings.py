"""Search configuration from `LMS_SEARCH_*` environment variables (and `.env`).

LMS_SEARCH_QUERY_MAX_CHARS=200      longer queries are refused (QUERY_TOO_LONG)
LMS_SEARCH_TYPO_BELOW=5             typo correction is tried when exact matching finds
                                    fewer results than this
LMS_SEARCH_MAX_RESULT_WINDOW=1000   page × pageSize may not reach past this many results
LMS_SEARCH_EXACT_COUNT_UP_TO=1000   matches are counted exactly up to this many; beyond,
                                    totalCount and facet counts are estimates (flagged)
LMS_SEARCH_TRENDING_DAYS=7          the window of the trending rollup; older logged
                                    queries are deleted by it
LMS_SEARCH_TRENDING_MIN_SEARCHERS=2 a query is trending once this many people searched it
                                    (one person cannot make a query trend)
"""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_SEARCH_", env_file=".env", extra="ignore")

    query_max_chars: int = Field(200, ge=10, le=1000)
    typo_below: int = Field(5, ge=0, le=1000)
    max_result_window: int = Field(1000, ge=100, le=100_000)
    exact_count_up_to: int = Field(1000, ge=1, le=1_000_000)
    trending_days: int = Field(7, ge=1, le=365)
    trending_min_searchers: int = Field(2, ge=1)


@functools.lru_cache(maxsize=1)
def search_settings() -> SearchSettings:
    return SearchSettings()
