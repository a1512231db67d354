"""`mdm bench`: the hub measured against the raw speed of capture, in one run."""
