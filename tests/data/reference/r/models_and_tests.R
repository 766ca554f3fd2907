# Reference numbers for models and tests, computed with R `survey`.
# Run from tests/data/reference/ (make reference): Rscript r/models_and_tests.R [outdir]
#   -> <outdir>/{glm,svyolr,svychisq,svyby}.csv (outdir: api/r_reference)
suppressMessages(library(survey))
args <- commandArgs(trailingOnly=TRUE)
out <- if (length(args) > 0) args[1] else "api/r_reference"
clus1 <- read.csv("api/apiclus1.csv"); srs <- read.csv("api/apisrs.csv"); strat <- read.csv("api/apistrat.csv")
for (nm in c("clus1", "srs", "strat")) { d <- get(nm); d$stype <- factor(d$stype, levels=c("E","H","M")); d$awards <- factor(d$awards, levels=c("No","Yes")); d$sch.wide <- factor(d$sch.wide, levels=c("No","Yes")); assign(nm, d) }
designs <- list(
  clus1_w = svydesign(id=~dnum, weights=~pw, data=clus1),
  strat_w = svydesign(id=~1, strata=~stype, weights=~pw, data=strat),
  srs_fpc = svydesign(id=~1, weights=~pw, fpc=~fpc, data=srs))
tight <- glm.control(epsilon=1e-14, maxit=100)
rows <- list()
for (dn in names(designs)) {
  des <- designs[[dn]]
  fits <- list(
    logistic = svyglm(awards ~ ell + meals + stype, design=des, family=quasibinomial(), control=tight),
    gaussian = svyglm(api00 ~ ell + meals + mobility, design=des, control=tight))
  for (fn in names(fits)) { f <- fits[[fn]]
    rows[[length(rows)+1]] <- data.frame(design=dn, model=fn, term=names(coef(f)), estimate=unname(coef(f)), se=unname(SE(f))) }
}
write.csv(do.call(rbind, rows), file.path(out, "glm.csv"), row.names=FALSE)
# proportional-odds model (svyolr, logit link) of api00 in four bands
o <- list()
for (dn in names(designs)) { des <- designs[[dn]]
  des <- update(des, band=cut(api00, c(0, 600, 700, 800, 1000), labels=c("lt600","600s","700s","800plus"), ordered_result=TRUE))
  f <- svyolr(band ~ ell + meals, design=des)
  cf <- c(coef(f)); o[[dn]] <- data.frame(design=dn, term=names(cf), estimate=unname(cf), se=unname(SE(f))) }
write.csv(do.call(rbind, o), file.path(out, "svyolr.csv"), row.names=FALSE)
# Rao-Scott tests of sch.wide x stype
ch <- list()
for (dn in names(designs)) { des <- designs[[dn]]
  f <- svychisq(~sch.wide + stype, des, statistic="F")
  c2 <- svychisq(~sch.wide + stype, des, statistic="Chisq")
  ch[[dn]] <- data.frame(design=dn, F=unname(f$statistic), ndf=unname(f$parameter[1]), ddf=unname(f$parameter[2]), p_F=f$p.value,
                         chisq=unname(c2$statistic), df_chisq=unname(c2$parameter), p_chisq=c2$p.value) }
write.csv(do.call(rbind, ch), file.path(out, "svychisq.csv"), row.names=FALSE)
# domain means: api00 by stype
b <- list()
for (dn in names(designs)) { x <- svyby(~api00, ~stype, designs[[dn]], svymean)
  b[[dn]] <- data.frame(design=dn, stype=x$stype, estimate=x$api00, se=x$se) }
write.csv(do.call(rbind, b), file.path(out, "svyby.csv"), row.names=FALSE)
