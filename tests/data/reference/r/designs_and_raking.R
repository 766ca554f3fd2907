# Reference numbers for design-based estimates and raking, computed with R `survey`.
# Run from tests/data/reference/ (make reference): Rscript r/designs_and_raking.R [outdir]
#   -> api/{apisrs,apistrat,apiclus1,apipop}.csv (R survey's data(api), unchanged)
#   -> <outdir>/{proportions,confint,rake_weights,rake_results}.csv (outdir: api/r_reference)
suppressMessages(library(survey))
args <- commandArgs(trailingOnly=TRUE)
out <- if (length(args) > 0) args[1] else "api/r_reference"
data(api)
# the public data the tests read, exactly as R ships it
write.csv(apisrs, file.path("api", "apisrs.csv"))
write.csv(apistrat, file.path("api", "apistrat.csv"))
write.csv(apiclus1, file.path("api", "apiclus1.csv"))
write.csv(apipop, file.path("api", "apipop.csv"))
for (nm in c("apiclus1", "apisrs", "apistrat")) { d <- get(nm); d$stype <- factor(d$stype, levels=c("E","H","M")); d$awards <- factor(d$awards, levels=c("No","Yes")); d$sch.wide <- factor(d$sch.wide, levels=c("No","Yes")); assign(nm, d) }
designs <- list(
  srs_w = svydesign(id=~1, weights=~pw, data=apisrs),
  srs_fpc = svydesign(id=~1, weights=~pw, fpc=~fpc, data=apisrs),
  strat_w = svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat),
  # these two have no weights=: R derives them from the fpc (population / sample PSUs per stratum)
  strat_fpc = svydesign(id=~1, strata=~stype, fpc=~fpc, data=apistrat),
  clus1_w = svydesign(id=~dnum, weights=~pw, data=apiclus1),
  clus1_fpc = svydesign(id=~dnum, fpc=~fpc, data=apiclus1))
# svymean and svytotal of the factors stype and awards; 95% intervals of the mean of api00
p <- list(); ci <- list()
for (dn in names(designs)) { des <- designs[[dn]]
  for (v in c("stype", "awards")) { f <- as.formula(paste0("~", v))
    m <- svymean(f, des); t <- svytotal(f, des)
    p[[length(p)+1]] <- data.frame(design=dn, variable=v, level=levels(des$variables[[v]]), mean_est=unname(coef(m)), mean_se=unname(SE(m)), total_est=unname(coef(t)), total_se=unname(SE(t))) }
  m <- svymean(~api00, des); normal <- confint(m); student <- confint(m, df=degf(des))
  ci[[dn]] <- data.frame(design=dn, normal_lower=normal[1,1], normal_upper=normal[1,2], t_lower=student[1,1], t_upper=student[1,2]) }
write.csv(do.call(rbind, p), file.path(out, "proportions.csv"), row.names=FALSE)
write.csv(do.call(rbind, ci), file.path(out, "confint.csv"), row.names=FALSE)
# rake() of clus1_w to the population totals of stype and sch.wide
pop.types <- data.frame(stype=c("E","H","M"), Freq=c(4421,755,1018))
pop.schwide <- data.frame(sch.wide=c("No","Yes"), Freq=c(1072,5122))
# the weights at rake()'s default stopping rule (epsilon = 1: margins off by up to 0.04)
raked <- rake(designs$clus1_w, list(~stype, ~sch.wide), list(pop.types, pop.schwide))
write.csv(data.frame(snum=apiclus1$snum, weight=unname(weights(raked))), file.path(out, "rake_weights.csv"), row.names=FALSE)
# mean and total of api00 on the JK1 replicate design, full sample and every replicate raked to
# convergence, so the standard error does not depend on where R's iterations stop
converged <- list(maxit=100, epsilon=1e-10)
jk1 <- rake(as.svrepdesign(designs$clus1_w, type="JK1"), list(~stype, ~sch.wide), list(pop.types, pop.schwide), control=converged)
m <- svymean(~api00, jk1); t <- svytotal(~api00, jk1)
write.csv(data.frame(mean_est=unname(coef(m)), mean_se=unname(SE(m)), total_est=unname(coef(t)), total_se=unname(SE(t))), file.path(out, "rake_results.csv"), row.names=FALSE)
