# Stand-in mgmt driver.
# tampered
