# Reference numbers for social_licence.design.change, from R survey (run from this folder):
#   Rscript waves_reference.R
# Input: waves.csv (two waves of the synthetic parents' survey, written by make_waves_data.py):
# wave, id (pseudonymous respondent, shared by the panel overlap), stratum, psu (within wave),
# weight (design weight), lone (Yes/No), y (1 if the risk-scoring item is acceptable, 0 if
# not, NA if not asked or not substantive), item (the 5-point answer, NA if none).
# Output: waves_reference.csv with columns design, quantity, group, value: by-wave means, changes,
# Rao-Scott tests, shares pooled over the waves (weights rescaled per wave) and a logistic model
# with a wave term on the stacked waves.
suppressMessages(library(survey))
options(survey.lonely.psu = "fail")
d <- read.csv("waves.csv", stringsAsFactors = FALSE, na.strings = "")
d$wave <- factor(d$wave, levels = c("wave1", "wave2"))
d$lone <- factor(d$lone, levels = c("Yes", "No"))
d$item <- factor(d$item)
d$wstratum <- paste(d$wave, d$stratum, sep = "|")
d$wpsu <- paste(d$wave, d$psu, sep = "|")
# Pooling: each wave's weights rescaled to sum to its number of respondents (sample_size).
d$wpool <- d$weight * ave(d$weight, d$wave, FUN = length) / ave(d$weight, d$wave, FUN = sum)
designs <- list(
  panel = svydesign(ids = ~id, weights = ~weight, data = d),
  independent = svydesign(ids = ~wpsu, strata = ~wstratum, weights = ~weight, data = d, nest = TRUE)
)
pooled <- list(
  panel = svydesign(ids = ~id, weights = ~wpool, data = d),
  independent = svydesign(ids = ~wpsu, strata = ~wstratum, weights = ~wpool, data = d, nest = TRUE)
)
out <- data.frame()
add <- function(design, quantity, group, value) {
  out <<- rbind(out, data.frame(design = design, quantity = quantity, group = group, value = unname(as.numeric(value))))
}
for (name in names(designs)) {
  des <- designs[[name]]
  sub <- subset(des, !is.na(y))
  by_wave <- svyby(~y, ~wave, sub, svymean, covmat = TRUE)
  change <- svycontrast(by_wave, c(-1, 1))
  add(name, "estimate_wave1", "all", coef(by_wave)[1])
  add(name, "estimate_wave2", "all", coef(by_wave)[2])
  add(name, "se_wave1", "all", SE(by_wave)[1])
  add(name, "se_wave2", "all", SE(by_wave)[2])
  add(name, "change", "all", coef(change))
  add(name, "se_change", "all", SE(change))
  by_group <- svyby(~y, ~wave + lone, sub, svymean, covmat = TRUE)
  for (g in levels(d$lone)) {
    cf <- rep(0, length(coef(by_group)))
    names(cf) <- names(coef(by_group))
    cf[paste0("wave1.", g)] <- -1
    cf[paste0("wave2.", g)] <- 1
    ch <- svycontrast(by_group, cf)
    add(name, "change", g, coef(ch))
    add(name, "se_change", g, SE(ch))
  }
  test <- svychisq(~item + wave, subset(des, !is.na(item)), statistic = "F")
  add(name, "rao_scott_F", "all", unname(test$statistic))
  add(name, "rao_scott_ndf", "all", unname(test$parameter[1]))
  add(name, "rao_scott_ddf", "all", unname(test$parameter[2]))
  add(name, "rao_scott_p", "all", test$p.value)
  # the pooled share over both waves, overall and by lone parent
  psub <- subset(pooled[[name]], !is.na(y))
  pm <- svymean(~y, psub)
  add(name, "pooled_estimate", "all", coef(pm))
  add(name, "pooled_se", "all", SE(pm))
  pb <- svyby(~y, ~lone, psub, svymean)
  for (g in levels(d$lone)) {
    add(name, "pooled_estimate", g, pb[g, "y"])
    add(name, "pooled_se", g, pb[g, "se"])
  }
  # a model with a wave term on the stacked waves (the waves' own weights)
  fit <- svyglm(y ~ wave + lone, design = des, family = quasibinomial())
  add(name, "model_wave_coef", "wave2", coef(fit)["wavewave2"])
  add(name, "model_wave_se", "wave2", SE(fit)["wavewave2"])
  add(name, "model_wave_coef", "loneNo", coef(fit)["loneNo"])
  add(name, "model_wave_se", "loneNo", SE(fit)["loneNo"])
}
write.csv(out, "waves_reference.csv", row.names = FALSE)
cat(sprintf("R %s, survey %s\n", getRversion(), packageVersion("survey")))
