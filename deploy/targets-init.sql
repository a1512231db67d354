-- The demo targets' databases: the image creates `oa` (POSTGRES_DB); this adds `wms`.
-- The demo OA/WMS servers create their own tables on start.
CREATE DATABASE wms;
