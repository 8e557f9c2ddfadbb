"""The GRB room: the IBAS and SPI GRB catalogues and what the archive holds of each burst."""
