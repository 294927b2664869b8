/*
 * rehearse_out.c: what a rehearsal writes once its runs are done: the table of outcomes (worst
 * first), the audit run's report with the rehearsal added, its graph coloured by outcome, and the
 * step summary.
 */
#define _GNU_SOURCE
#include "rehearse_int.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "report.h"

int rh_by_severity(const void *a, const void *b)
{
	const struct trial *x = a, *y = b;
	int c = strcmp(x->dep->what, y->dep->what);

	if (x->outcome != y->outcome)
		return (int)x->outcome - (int)y->outcome;
	return c ? c : (int)x->outage - (int)y->outage;
}

void rh_result_text(const struct trial *t, char *buf, size_t len)
{
	if (t->outcome == HANG)
		snprintf(buf, len, "stopped after %.1f s", (double)t->ms / 1000);
	else if (t->outcome == HARD)
		snprintf(buf, len, "exit %d after %.1f s", t->status, (double)t->ms / 1000);
	else if (t->outcome == ERROR)
		snprintf(buf, len, "deployguard failed (exit %d)", t->status);
	else
		snprintf(buf, len, "%+.1f s", (double)t->extra_ms / 1000);
}

/* "pid N: ancestry", printable, cut to fit a column. */
static void first_text(const struct trial *t, char *buf, size_t len)
{
	if (!t->met) {
		snprintf(buf, len, "(not asked for)");
		return;
	}
	snprintf(buf, len, "pid %ld: %s", t->pid, t->ancestry[0] ? t->ancestry : t->cmd);
	for (char *s = buf; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int width(size_t w, const char *s, size_t max)
{
	size_t n = strlen(s);

	return (int)(n > w ? (n > max ? max : n) : w);
}

void rh_table(void)
{
	int wd = 10, wr = 6, wf = 16;
	unsigned count[4] = {0};
	char r[64], first[300];

	for (size_t i = 0; i < rh.ntrials; i++) {
		const struct trial *t = &rh.trials[i];

		count[t->outcome]++;
		rh_result_text(t, r, sizeof(r));
		first_text(t, first, sizeof(first));
		wd = width((size_t)wd, t->dep->what, 60);
		wr = width((size_t)wr, r, 40);
		wf = width((size_t)wf, first, 60);
	}
	fprintf(stderr,
		"deployguard: rehearsal: %zu dependencies, %zu runs (the audit run took %.1f s): "
		"%u hang, %u hard, %u soft%s\n",
		rh.ndeps, rh.ntrials, (double)rh.audit_ms / 1000, count[HANG], count[HARD],
		count[SOFT], count[ERROR] ? ", and runs that failed (above)" : "");
	if (!rh.ntrials)
		return;
	fprintf(stderr, "  %-7s %-*s %-9s %-*s  %-*s  %s\n", "OUTCOME", wd, "DEPENDENCY", "OUTAGE",
		wr, "RESULT", wf, "FIRST TO MEET IT", "CHANGED");
	for (size_t i = 0; i < rh.ntrials; i++) {
		const struct trial *t = &rh.trials[i];

		rh_result_text(t, r, sizeof(r));
		first_text(t, first, sizeof(first));
		fprintf(stderr, "  %-7s %-*.60s %-9s %-*s  %-*.60s  %s\n",
			outcome_names[t->outcome], wd, t->dep->what, outages[t->outage].name, wr, r,
			wf, first, t->changed[0] ? t->changed : "-");
	}
}

/* The "+x" or "-x" words of changed as a JSON array of x. */
static void put_changes(FILE *f, const char *changed, char sign)
{
	char buf[sizeof(((struct trial *)0)->changed)], *save, *w;
	bool first = true;

	snprintf(buf, sizeof(buf), "%s", changed);
	fputc('[', f);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (w[0] != sign)
			continue;
		fputs(first ? "" : ",", f);
		audit_json_string(f, w + 1);
		first = false;
	}
	fputc(']', f);
}

static void put_trial(FILE *f, const struct trial *t)
{
	fputs("{\"dependency\":", f);
	audit_json_string(f, t->dep->what);
	fprintf(f, ",\"kind\":\"%s\",\"outage\":\"%s\",\"outcome\":\"%s\",\"exitStatus\":",
		t->dep->addr ? "address" : "name", outages[t->outage].name,
		outcome_names[t->outcome]);
	if (t->outcome == HANG)
		fputs("null", f);
	else
		fprintf(f, "%d", t->status);
	fprintf(f, ",\"durationMs\":%lld,\"extraMs\":%lld,\"met\":%s,\"process\":", t->ms,
		t->extra_ms, t->met ? "true" : "false");
	if (t->met) {
		fprintf(f, "{\"pid\":%ld,\"cmdline\":", t->pid);
		audit_json_string(f, t->cmd);
		fputs(",\"ancestry\":", f);
		audit_json_string(f, t->ancestry);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs(",\"added\":", f);
	put_changes(f, t->changed, '+');
	fputs(",\"missing\":", f);
	put_changes(f, t->changed, '-');
	fputc('}', f);
}

/* The audit run's report with the rehearsal added: its text up to the closing brace, then the
 * trials. The text is deployguard's own (or a --from-report that parsed), so its last '}' closes
 * it. */
void rh_write_report(FILE *f, long long timeout_ms)
{
	size_t end = rh.audit_len;

	while (end && rh.audit_text[end - 1] != '}')
		end--;
	fwrite(rh.audit_text, 1, end ? end - 1 : 0, f);
	fputs(",\"rehearsal\":[", f);
	for (size_t i = 0; i < rh.ntrials; i++) {
		fputs(i ? ",\n" : "\n", f);
		put_trial(f, &rh.trials[i]);
	}
	fprintf(f, "],\"rehearsalTimeoutMs\":%lld,\"rehearsalInterrupted\":%s}\n", timeout_ms,
		rh.stop_sig ? "true" : "false");
}

static const char *const colors[] = {
    [HANG] = "orange", [HARD] = "red", [ERROR] = "gray", [SOFT] = "forestgreen"};

/* The audit run's graph, each dependency's node coloured by its worst outcome and labelled with
 * every outcome (later attributes of a node override earlier ones in DOT). */
void rh_write_graph(FILE *f, const char *dot)
{
	size_t len, end;
	char *text = report_slurp(dot, &len);

	if (!text) {
		log_warn("--rehearse: cannot read the audit run's graph %s", dot);
		return;
	}
	for (end = len; end && text[end - 1] != '}'; end--)
		;
	fwrite(text, 1, end ? end - 1 : 0, f);
	free(text);
	for (size_t d = 0; d < rh.ndeps; d++) {
		enum outcome worst = SOFT;
		bool any = false;

		for (size_t i = 0; i < rh.ntrials; i++)
			if (rh.trials[i].dep == &rh.deps[d] && rh.trials[i].outcome <= worst) {
				worst = rh.trials[i].outcome;
				any = true;
			}
		if (!any)
			continue;
		fprintf(f, "  d%zu [color=%s, penwidth=2, xlabel=\"", rh.deps[d].dest,
			colors[worst]);
		for (size_t i = 0, k = 0; i < rh.ntrials; i++)
			if (rh.trials[i].dep == &rh.deps[d])
				fprintf(f, "%s%s: %s", k++ ? ", " : "",
					outages[rh.trials[i].outage].name,
					outcome_names[rh.trials[i].outcome]);
		fputs("\"];\n", f);
	}
	fputs("}\n", f);
}

void rh_step_summary(void)
{
	const char *path = getenv("GITHUB_STEP_SUMMARY");
	unsigned count[4] = {0};
	char r[64], first[300];
	FILE *f;

	if (!path || !*path)
		return;
	if (!(f = fopen(path, "ae"))) {
		log_warn("GITHUB_STEP_SUMMARY %s: cannot append the rehearsal", path);
		return;
	}
	for (size_t i = 0; i < rh.ntrials; i++)
		count[rh.trials[i].outcome]++;
	fputs("### deployguard rehearsal: ", f);
	report_md_text(f, rh.c->cmd[0], 80, true);
	fprintf(f, " %u hang, %u hard, %u soft\n\n", count[HANG], count[HARD], count[SOFT]);
	fputs("| outcome | dependency | outage | result | first to meet it | changed |\n"
	      "| --- | --- | --- | --- | --- | --- |\n",
	      f);
	for (size_t i = 0; i < rh.ntrials; i++) {
		const struct trial *t = &rh.trials[i];

		rh_result_text(t, r, sizeof(r));
		first_text(t, first, sizeof(first));
		fputc('|', f);
		report_md_cell(f, outcome_names[t->outcome], 10, false);
		report_md_cell(f, t->dep->what, 260, true);
		report_md_cell(f, outages[t->outage].name, 20, false);
		report_md_cell(f, r, 60, false);
		report_md_cell(f, first, 120, true);
		report_md_cell(f, t->changed[0] ? t->changed : NULL, 200, false);
		fputc('\n', f);
	}
	fputc('\n', f);
	if (fclose(f))
		log_warn("GITHUB_STEP_SUMMARY %s: failed to write", path);
}

/* ---- the rehearsal ---- */
