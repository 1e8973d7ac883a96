"""Import of a home's past readings (a district's older system, a gateway's stored log) into the hypertable."""
