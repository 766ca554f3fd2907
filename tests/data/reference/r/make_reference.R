# Regenerate every R reference number (make reference). Run from tests/data/reference/:
#   Rscript r/make_reference.R [outdir]   (outdir: api/r_reference)
# and record the R and survey versions that made them in versions.txt.
args <- commandArgs(trailingOnly=TRUE)
out <- if (length(args) > 0) args[1] else "api/r_reference"
dir.create(out, showWarnings=FALSE, recursive=TRUE)
for (script in c("r/designs_and_raking.R", "r/models_and_tests.R")) {
  status <- system2(file.path(R.home("bin"), "Rscript"), c(script, out))
  if (status != 0) stop(script, " failed with status ", status)
}
writeLines(c(paste("R", paste(R.version$major, R.version$minor, sep=".")),
             paste("survey", as.character(packageVersion("survey")))),
           file.path(out, "versions.txt"))
