"""The delivery stages, in the order an alert goes through them (see ``dispatch``)."""
