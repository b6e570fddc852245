"""All state: the record types and the one store that holds them."""
