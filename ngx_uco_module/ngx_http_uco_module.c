/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Directives, configuration, variables and process hooks.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_uco_module.h"


static ngx_int_t ngx_http_uco_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_uco_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_uco_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_uco_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_uco_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_uco_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_uco_time_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_uco_eligibility(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_uco_page(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_uco_replay_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_uco_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_uco_init_process(ngx_cycle_t *cycle);
static void ngx_http_uco_exit_process(ngx_cycle_t *cycle);


enum {
    NGX_HTTP_UCO_VAR_DECISION = 0,
    NGX_HTTP_UCO_VAR_PARTNER,
    NGX_HTTP_UCO_VAR_PROGRAM
};


static ngx_conf_num_bounds_t  ngx_http_uco_batch_bounds = {
    ngx_conf_check_num_bounds, 1, NGX_HTTP_UCO_BATCH_LIMIT
};


static ngx_conf_enum_t  ngx_http_uco_stale_policies[] = {
    { ngx_string("mark"), NGX_HTTP_UCO_STALE_MARK },
    { ngx_string("reject"), NGX_HTTP_UCO_STALE_REJECT },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_uco_commands[] = {

    { ngx_string("uco_snapshot"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, dir),
      NULL },

    { ngx_string("uco_time_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_uco_time_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("uco_journal"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, journal.dir),
      NULL },

    { ngx_string("uco_journal_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, journal.size),
      NULL },

    { ngx_string("uco_journal_node"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, journal.node),
      NULL },

    { ngx_string("uco_journal_full"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, journal.full),
      ngx_http_uco_journal_full },

    { ngx_string("uco_hashpan_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_uco_hashpan_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("uco_token_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_uco_token_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("uco_signed_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, signed_window),
      NULL },

    { ngx_string("uco_replay_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_uco_replay_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("uco_partner_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_uco_partner_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("uco_auth_fail_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_uco_auth_fail_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("uco_token_skew"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, token_skew),
      NULL },

    { ngx_string("uco_eligibility"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_uco_eligibility,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("uco_batch_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_uco_loc_conf_t, batch_max),
      &ngx_http_uco_batch_bounds },

    { ngx_string("uco_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_uco_page,
      0,
      0,
      ngx_http_uco_metrics_handler },

    { ngx_string("uco_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_uco_page,
      0,
      0,
      ngx_http_uco_status_handler },

    { ngx_string("uco_metrics_partners"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_uco_main_conf_t, metrics_partners),
      NULL },

    { ngx_string("uco_max_staleness"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_uco_loc_conf_t, max_staleness),
      NULL },

    { ngx_string("uco_stale_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_uco_loc_conf_t, stale_policy),
      &ngx_http_uco_stale_policies },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_uco_module_ctx = {
    ngx_http_uco_add_variables,            /* preconfiguration */
    ngx_http_uco_postconfiguration,        /* postconfiguration */

    ngx_http_uco_create_main_conf,         /* create main configuration */
    ngx_http_uco_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_uco_create_loc_conf,          /* create location configuration */
    ngx_http_uco_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_uco_module = {
    NGX_MODULE_V1,
    &ngx_http_uco_module_ctx,              /* module context */
    ngx_http_uco_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_uco_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_uco_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_uco_vars[] = {

    { ngx_string("uco_decision"), NULL, ngx_http_uco_variable,
      NGX_HTTP_UCO_VAR_DECISION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("uco_partner"), NULL, ngx_http_uco_variable,
      NGX_HTTP_UCO_VAR_PARTNER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("uco_program"), NULL, ngx_http_uco_variable,
      NGX_HTTP_UCO_VAR_PROGRAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_uco_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_uco_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_uco_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char              *p;
    uint64_t             n;
    ngx_http_uco_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_uco_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == NGX_HTTP_UCO_VAR_DECISION) {
        if (ctx->decision == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = (u_char *) ctx->decision;
        v->len = ngx_strlen(ctx->decision);

    } else {
        n = (data == NGX_HTTP_UCO_VAR_PARTNER) ? ctx->partner
                                               : ctx->programme;
        if (n == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%uL", n) - p;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static void *
ngx_http_uco_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_uco_main_conf_t));
    if (umcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     umcf->dir = { 0, NULL };
     *     umcf->tz_name = { 0, NULL };
     *     umcf->tz = { NULL, NULL, 0 };
     *     umcf->state = { ... };
     *     umcf->journal.dir = { 0, NULL };
     *     umcf->journal.ring = { NULL, ... };
     *     umcf->metrics_zone = NULL;
     *     umcf->metrics = NULL;
     *     umcf->pan_keys = NULL;
     *     umcf->token_keys = NULL;
     */

    umcf->journal.size = NGX_CONF_UNSET_SIZE;
    umcf->journal.node = NGX_CONF_UNSET;
    umcf->journal.full = NGX_CONF_UNSET_UINT;
    umcf->metrics_partners = NGX_CONF_UNSET_UINT;
    umcf->token_skew = NGX_CONF_UNSET;
    umcf->signed_window = NGX_CONF_UNSET;

    return umcf;
}


static char *
ngx_http_uco_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_uco_main_conf_t  *umcf = conf;

    char  *rv;

    static ngx_str_t  utc = ngx_string("UTC");

    ngx_conf_init_value(umcf->token_skew, 30);
    ngx_conf_init_value(umcf->signed_window, 300);

    if (umcf->tz_name.len == 0) {
        rv = ngx_http_uco_tz_load(cf, &utc, &umcf->tz);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return ngx_http_uco_journal_init_conf(cf, &umcf->journal);
}


static void *
ngx_http_uco_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_uco_loc_conf_t  *ulcf;

    ulcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_uco_loc_conf_t));
    if (ulcf == NULL) {
        return NULL;
    }

    ulcf->eligibility = NGX_CONF_UNSET;
    ulcf->batch_max = NGX_CONF_UNSET;
    ulcf->max_staleness = NGX_CONF_UNSET;
    ulcf->stale_policy = NGX_CONF_UNSET_UINT;

    return ulcf;
}


static char *
ngx_http_uco_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_uco_loc_conf_t  *prev = parent;
    ngx_http_uco_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->eligibility, prev->eligibility, 0);
    ngx_conf_merge_value(conf->batch_max, prev->batch_max,
                         NGX_HTTP_UCO_BATCH_MAX);
    ngx_conf_merge_sec_value(conf->max_staleness, prev->max_staleness, 0);
    ngx_conf_merge_uint_value(conf->stale_policy, prev->stale_policy,
                              NGX_HTTP_UCO_STALE_MARK);

    return NGX_CONF_OK;
}


static char *
ngx_http_uco_time_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_uco_main_conf_t  *umcf = conf;

    ngx_str_t  *value;

    if (umcf->tz_name.len != 0) {
        return "is duplicate";
    }

    value = cf->args->elts;
    umcf->tz_name = value[1];

    return ngx_http_uco_tz_load(cf, &value[1], &umcf->tz);
}


static char *
ngx_http_uco_eligibility(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_uco_loc_conf_t  *ulcf = conf;

    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_uco_main_conf_t  *umcf;

    if (ulcf->eligibility != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    ulcf->eligibility = 1;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_uco_module);
    umcf->endpoints++;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_uco_handler;

    return NGX_CONF_OK;
}


/*
 * uco_metrics and uco_status: a handler of their own, named in the
 * command's post field.  Each page counts as an endpoint: it reads the
 * snapshot directory.
 */

static char *
ngx_http_uco_page(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_uco_main_conf_t  *umcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_uco_module);
    umcf->endpoints++;

    return NGX_CONF_OK;
}


static char *
ngx_http_uco_replay_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_uco_main_conf_t  *umcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (umcf->replay != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);
    if (size == NGX_ERROR) {
        return "has an invalid size";
    }

    return ngx_http_uco_replay_zone(cf, umcf, size);
}


/*
 * An endpoint without a snapshot directory is a configuration error.
 * The metrics zone exists whenever the module is used, so that a
 * module loaded but not configured costs nothing.
 */

static ngx_int_t
ngx_http_uco_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_uco_module);

    if (umcf->endpoints && umcf->dir.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"uco_eligibility\", \"uco_status\" and "
                           "\"uco_metrics\" require \"uco_snapshot\" "
                           "in the http block");
        return NGX_ERROR;
    }

    /* signed requests always have a replay cache: 1m unless configured */
    if (umcf->endpoints && umcf->replay == NULL
        && ngx_http_uco_replay_zone(cf, umcf, 1024 * 1024) != NGX_CONF_OK)
    {
        return NGX_ERROR;
    }

    if (umcf->endpoints
        && ngx_http_uco_metrics_init_zone(cf, umcf) != NGX_CONF_OK)
    {
        return NGX_ERROR;
    }

    if (umcf->dir.len > 1 && umcf->dir.data[umcf->dir.len - 1] == '/') {
        umcf->dir.len--;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_uco_init_process(ngx_cycle_t *cycle)
{
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_uco_module);

    if (umcf == NULL || umcf->dir.len == 0) {
        return NGX_OK;
    }

    ngx_http_uco_journal_init_process(cycle, umcf);

    return ngx_http_uco_snapshot_init_process(cycle, umcf);
}


static void
ngx_http_uco_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_uco_main_conf_t  *umcf;

    umcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_uco_module);

    if (umcf == NULL || umcf->dir.len == 0) {
        return;
    }

    ngx_http_uco_snapshot_exit_process(umcf);
}
