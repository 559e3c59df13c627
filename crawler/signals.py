"""The crawler's own Scrapy signals: components tell each other through these, never directly."""

#: sent by a spider once it knows how many visits its targets make: ``total`` (int)
visits_planned = object()
#: sent by the resume middleware for each visit already stored for the run: ``key`` (str)
visit_skipped = object()
#: sent by the store pipeline after each batch is written: ``count`` (new rows), ``batch`` (size)
batch_stored = object()
