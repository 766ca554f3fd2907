"""The survey design, built once from the weight stage's file: SurveyDesign, replicates, estimators."""
