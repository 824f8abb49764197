"""What attncli says about attention: grading a hand calculation, explaining a sentence in a model."""
