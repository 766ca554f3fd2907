# R `survey` peer of benchmarks/bench_estimates.py [1]: the share "acceptable" of each grid item,
# overall and by each grouping variable, as an R user writes it: one design over the respondents
# (PSUs within strata), each item a 0/1 variable (NA outside its base: not asked, "Don't know"),
# svymean(na.rm = TRUE) overall and svyby(..., svymean, na.rm = TRUE) per grouping variable,
# with design effects (deff = "replace"). Domains are estimated on the whole design, as ours.
# Usage: Rscript bench_estimates.R wide.csv item1,item2,... group1,group2,... out.csv
# Prints the seconds spent estimating (elapsed and CPU; reading the CSV excluded).
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
wide <- read.csv(args[1], stringsAsFactors = TRUE)
items <- strsplit(args[2], ",")[[1]]
groups <- strsplit(args[3], ",")[[1]]
t0 <- proc.time()
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = wide)
rows <- list()
for (item in items) {
  f <- as.formula(paste0("~", item))
  m <- svymean(f, des, na.rm = TRUE, deff = "replace")
  rows[[length(rows) + 1]] <- data.frame(
    item = item, group_variable = "All", group = "All",
    estimate = coef(m)[[1]], se = SE(m)[[1]], deff = deff(m)[[1]]
  )
  for (g in groups) {
    r <- svyby(f, as.formula(paste0("~", g)), des, svymean, na.rm = TRUE, deff = "replace")
    rows[[length(rows) + 1]] <- data.frame(
      item = item, group_variable = g, group = as.character(r[[g]]),
      estimate = r[[item]], se = SE(r), deff = r[[grep("^DEff", names(r))[1]]]
    )
  }
}
out <- do.call(rbind, rows)
el <- proc.time() - t0
write.csv(out, args[4], row.names = FALSE)
cat(sprintf("R_SECONDS elapsed=%.3f cpu=%.3f\n", el[["elapsed"]], el[["user.self"]] + el[["sys.self"]]))
