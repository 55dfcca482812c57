# Stand-in mgmt driver.
