-- The tasks each worker can run, so that monitoring can tell jobs whose
-- task no live worker serves. NULL: a worker of a release that does not
-- say.

ALTER TABLE {schema}.servers ADD COLUMN tasks text[];
