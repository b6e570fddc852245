"""HTTP in and out: the site and its body cap, dispatch, JSON answers and errors, pagination."""
