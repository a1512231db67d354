"""Data shapes shared by the stages (change events in the inbox, versions and their causes,
deliveries, tasks) and pure functions over them: no I/O, no imports from the rest of mdm."""
