"""Extraction: one spaCy pipeline turns article text into entities, statements, events and countries.

The Faust agents, the CLI (`newsmon extract`, `newsmon eval`) and the tests all call these functions.
Where things are: `pipeline` (the ordered components, loading, `extract_texts`), `conversion` (Doc to
`Extraction` to indexed records), `cli` (`newsmon extract`), `evaluate` (`newsmon eval`), and one module
per component (`paragraphs`, `gazetteer`, `places`, `entities`, `dates`, `statements`, `speakers`, `events`,
`relevance`), each reading its data file through `datafiles`.
"""

from newsmon.processors.extraction.conversion import country_codes, records_of, to_extraction
from newsmon.processors.extraction.pipeline import (COMPONENTS, NEWSMON_PIPES, check_pipeline, extract_article,
                                                    extract_articles, extract_texts, load_pipeline)
from newsmon.processors.extraction.speakers import resolve_mention, statements_of

__all__ = ["load_pipeline", "check_pipeline", "extract_texts", "extract_article", "extract_articles", "to_extraction",
           "records_of", "statements_of", "resolve_mention", "country_codes", "COMPONENTS", "NEWSMON_PIPES"]
