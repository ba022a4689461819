-- Nothing to undo: a schedule's current spec is its own content either way.
SELECT 1;
