"""The touchpoint domain: the Customer aggregate, its values and the application that stores it."""
