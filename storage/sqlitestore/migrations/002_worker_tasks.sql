-- The tasks each worker handles (storage.WorkerInfo.Tasks), a JSON array.
ALTER TABLE servers ADD COLUMN tasks TEXT NOT NULL DEFAULT '[]';
