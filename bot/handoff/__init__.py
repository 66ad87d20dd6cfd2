"""Hand-off of a customer's conversation to a person in the shop's support group: a forum
topic per customer, messages copied both ways, a paced queue into the group, closing with
a rating, and canned replies."""
