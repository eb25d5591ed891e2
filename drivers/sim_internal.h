/*
 * Internals of the traffic simulator's model, shared by its files:
 *   sim_model.c  profile tables (builder), scheduler, packing, checksums
 *   sim_world.c  PRNG, drive cycle, vehicle dynamics, traffic around the car
 *   sim_ev.c     the "ev" profile: physics and messages
 *   sim_ice.c    the "ice" profile: physics and messages
 *   sim_dbc.c    the DBC writer
 *
 * Units: every physical state is an integer in a named unit (suffix _mm,
 * _mm_s, _mc for milli-degrees Celsius, _mv, _ma, _w...). No floating point
 * reaches a frame: doubles exist only in the tables, for the DBC text.
 */
#ifndef CNP_SIM_INTERNAL_H
#define CNP_SIM_INTERNAL_H

#include "drivers/sim_model.h"

#include <stdint.h>

#define SIM_TICK_US 10000u       /* physics step */
#define SIM_SLOW_TICKS 10u       /* thermal and BMS sampling: every 10th step */
#define SIM_MAX_SIGNALS 128      /* per message */

#define EV_CELLS 108             /* cells in series */
#define EV_CELLS_PER_FRAME 4
#define EV_TEMPS 48              /* cell temperature sensors (4 per module) */
#define EV_TEMPS_PER_FRAME 6

#define SIM_TARGETS 24           /* road users and roadside objects */
#define SIM_OBJS_PER_FRAME 5     /* objects per 64-byte object-list frame */
#define SIM_MAX_SLOTS 40         /* longest object list (front radar) */

/* ---- PRNG: splitmix64 -------------------------------------------------------- */

struct sim_rng {
	uint64_t s;
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [lo, hi] (hi >= lo). */
int32_t sim_rng_range(struct sim_rng *r, int32_t lo, int32_t hi);
/* Bell-shaped noise in [-amp, amp] (sum of two uniforms). */
int32_t sim_rng_noise(struct sim_rng *r, int32_t amp);

/* ---- helpers ------------------------------------------------------------------- */

static inline int64_t sim_clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static inline int64_t sim_abs(int64_t v)
{
	return v < 0 ? -v : v;
}

/* Integer square root (floor). */
uint64_t sim_isqrt(uint64_t v);
/* Linear interpolation in a table of n points y[] at x = 0, step, 2 step...;
 * x is clamped to the table. */
int32_t sim_interp(const int32_t *y, unsigned n, int32_t step, int32_t x);
/* First-order lag: moves *state towards target by (target - state) / tau_steps. */
static inline void sim_lag(int64_t *state, int64_t target, int64_t tau_steps)
{
	*state += (target - *state) / (tau_steps > 0 ? tau_steps : 1);
}

/* ---- the world: drive cycle, vehicle, traffic ------------------------------------ */

enum sim_phase { PH_PARK, PH_DRIVE, PH_STOP, PH_CHARGE };
enum sim_road { ROAD_URBAN, ROAD_SUBURBAN, ROAD_HIGHWAY };

struct sim_params {           /* set by the profile before sim_world_init */
	int32_t mass_kg;
	int32_t cda_cm2;            /* drag coefficient times frontal area */
	int32_t crr_ppm;            /* rolling resistance coefficient, 1e-6 */
	int32_t power_max_w;
	int32_t accel_max_mm_s2;
	int32_t wheel_radius_mm;
	int32_t can_charge;         /* stops at a charger now and then */
};

struct sim_drive {
	enum sim_phase phase;
	enum sim_road road;
	uint32_t phase_ms;          /* time spent in the phase */
	uint32_t phase_len_ms;      /* how long it lasts (STOP: once stopped) */
	int32_t cruise_mm_s;        /* the leg's speed */
	int32_t target_mm_s;        /* what the driver aims at now */
	int32_t wobble_mm_s;        /* slow variation around the cruise speed */
	int32_t wobble_target_mm_s;
	uint32_t drive_ms;          /* driving since the last charge */
	uint32_t charge_after_ms;
	uint32_t legs;
	int32_t speed_limit_kmh;
};

struct sim_vehicle {
	int64_t v_um_s;             /* speed, micrometres per second */
	int32_t v_mm_s;
	int32_t a_mm_s2;            /* longitudinal acceleration */
	int64_t odo_um;             /* distance since start */
	int32_t odo_start_hm;       /* odometer at start, 100 m */
	int32_t curv_u;             /* path curvature, 1e-6 / m, left positive */
	int32_t curv_target_u;
	int32_t curv_prev_u;
	uint32_t curv_hold_ms;
	uint32_t curv_hold_len_ms;
	int32_t yaw_urad_s;         /* yaw rate, microradian / s */
	int32_t lat_mm_s2;          /* lateral acceleration */
	int32_t steer_cdeg;         /* steering wheel angle, 0.01 degree */
	int32_t steer_rate_cdeg_s;
	int32_t wheel_mm_s[4];      /* FL, FR, RL, RR */
	int32_t wheel_ppm[4];       /* tyre radius error */
	int64_t wheel_um[4];        /* distance rolled */
	int32_t force_n;            /* force the wheels must put on the road */
	int32_t resist_n;           /* drag and rolling resistance */
	int32_t pedal_pm;           /* accelerator pedal, per mille */
	int32_t brake_pedal_pm;     /* brake pedal, per mille */
	int32_t brake_bar_x10;      /* friction brake pressure, 0.1 bar */
	int32_t friction_n;         /* friction brake force (>= 0) */
	int32_t ambient_mc;         /* outside temperature */
	int32_t lane_offset_mm;     /* ego position in its lane, left positive */
	int32_t lane_offset_target_mm;
	int32_t heading_urad;       /* relative to the lane */
	int gear;                   /* 0 P, 1 R, 2 N, 3 D */
	int turn;                   /* indicator: 0 off, 1 left, 2 right */
};

/* A road user or roadside object, relative to the ego's front bumper
 * (x forward, y left). */
struct sim_target {
	int32_t x_mm, y_mm;
	int32_t vx_mm_s, vy_mm_s;   /* relative velocity */
	int32_t ax_mm_s2;
	int32_t rel_mm_s;           /* traffic: its speed relative to the ego's */
	int32_t lane_y_mm;          /* traffic: centre of its lane */
	int32_t length_mm, width_mm;
	uint16_t age;               /* physics steps since it appeared */
	uint8_t kind;               /* TGT_LEAD, TGT_TRAFFIC, TGT_STATIC */
	uint8_t cls;                /* object class (DBC value table) */
	uint8_t id;                 /* track id, 1..255 */
	uint8_t active;
};

enum { TGT_LEAD, TGT_TRAFFIC, TGT_STATIC };

/* One measured object as a sensor reports it. */
struct sim_obj {
	int32_t x_mm, y_mm, vx_mm_s, vy_mm_s, ax_mm_s2;
	int32_t length_mm, width_mm;
	int32_t rcs_cdb;            /* radar cross section, 0.01 dBsm */
	uint8_t id, cls, prob, dyn, meas, age;
};

/* A sensor's object list of one cycle: taken when its header is sent and
 * reported by the object frames that follow it. */
struct sim_sensor {
	struct sim_obj obj[SIM_MAX_SLOTS];
	unsigned n;
	uint16_t cycle;             /* measurement counter */
};

enum sim_sensor_id { SEN_RADAR_F, SEN_RADAR_FL, SEN_RADAR_FR, SEN_RADAR_RL, SEN_RADAR_RR,
	                 SEN_CAMERA, SEN_FUSION, SEN_COUNT };

/* ---- EV state ----------------------------------------------------------------------- */

struct sim_motor {
	int32_t torque_dnm;         /* actual torque, 0.1 Nm */
	int32_t torque_req_dnm;
	int32_t rpm;
	int32_t p_mech_w;
	int32_t p_elec_w;
	int32_t id_da, iq_da;       /* d/q currents, 0.1 A */
	int32_t irms_da;
	int32_t vd_dv, vq_dv;       /* d/q voltages, 0.1 V */
	int32_t dc_current_da;
	int64_t t_igbt_mc[3], t_stator_mc, t_rotor_mc, t_coolant_mc;
	int32_t torque_max_dnm;
};

struct sim_ev {
	struct sim_motor mot[2];    /* 0 rear, 1 front */
	int64_t charge_q;           /* charge in mA * 10 ms */
	int64_t capacity_q;
	int32_t soc_ppm;
	int32_t soh_pm;
	int32_t current_ma;         /* pack current, discharge positive */
	int32_t pack_mv;            /* pack voltage (sum of cells) */
	int32_t cell_off_uv[EV_CELLS];
	int32_t cell_r_uohm[EV_CELLS];
	int32_t cell_mv[EV_CELLS];  /* last BMS measurement */
	int32_t temp_off_mc[EV_TEMPS];
	int32_t temp_mc[EV_TEMPS];  /* last BMS measurement */
	int64_t pack_t_uc;          /* pack core temperature, micro-degrees */
	int64_t cool_batt_mc;       /* battery loop coolant (inlet) */
	int64_t cool_motor_mc;      /* drive unit loop coolant (inlet) */
	int64_t cabin_mc;
	int32_t setpoint_mc;
	int32_t aux_w;              /* 12 V loads through the DC-DC */
	int32_t hvac_w;             /* heater or compressor */
	int32_t compressor_rpm;
	int32_t heater_w;
	int32_t blower;
	int32_t chiller;
	int32_t pump_batt_pct, pump_motor_pct;
	int32_t charge_power_w;     /* at the charger's output, >= 0 */
	int32_t charge_state;       /* CHG_* below */
	int32_t evse_max_a;
	int32_t drive_state;        /* VCU_DriveState */
	int32_t bms_state;
	int32_t iso_kohm;
	int32_t balancing;          /* cells being balanced */
	int32_t regen_level;
	int32_t drive_mode;
	uint32_t charge_ms;
};

enum { CHG_IDLE, CHG_PLUGGED, CHG_HANDSHAKE, CHG_CHARGING, CHG_FINISHING, CHG_COMPLETE };

/* ---- ICE state ----------------------------------------------------------------------- */

struct sim_ice {
	int32_t rpm;
	int32_t turbine_rpm;
	int32_t output_rpm;
	int32_t torque_dnm;         /* engine torque, 0.1 Nm */
	int32_t torque_req_dnm;
	int32_t gear;               /* 1..6 */
	int32_t gear_target;
	uint32_t shift_ms;          /* > 0 while a shift is in progress */
	int32_t tcc_locked;
	int32_t throttle_pm;
	int32_t map_kpa_x10;        /* manifold pressure, 0.1 kPa */
	int32_t lambda_x1000;
	int32_t fuel_rate_mlh;      /* ml / h */
	int64_t fuel_ul;            /* fuel in the tank, microlitres */
	int64_t coolant_mc, oil_mc, iat_mc, trans_oil_mc;
	int32_t fuel_cut;
	int32_t battery_mv;
	int64_t engine_ms;          /* running time */
	int64_t trip_um;
	int64_t cabin_mc;
	int32_t setpoint_mc;
	int32_t blower;
	int32_t ac_on;
};

/* ---- the model ---------------------------------------------------------------------- */

enum sim_kind { SIM_EV, SIM_ICE };

struct sim {
	const struct cnp_sim_profile *prof;
	enum sim_kind kind;
	struct sim_params par;
	struct sim_rng world_rng;   /* physics and traffic */
	struct sim_rng noise_rng;   /* measurement noise in frames */
	uint64_t tick;              /* physics steps done (the next is at tick * 10 ms) */
	uint64_t now_us;            /* time of the last step */
	struct sim_drive drive;
	struct sim_vehicle veh;
	struct sim_target tgt[SIM_TARGETS];
	uint8_t next_track_id;
	struct sim_sensor sensor[SEN_COUNT];
	struct sim_ev ev;
	struct sim_ice ice;
};

void sim_world_init(struct sim *s, uint64_t seed);
/* One physics step of the drive cycle, the vehicle and the traffic. */
void sim_world_step(struct sim *s);
/* Takes sensor `id`'s object list for this cycle (sorted by range). */
void sim_sensor_measure(struct sim *s, enum sim_sensor_id id);

void sim_ev_init(struct sim *s);
void sim_ev_step(struct sim *s);   /* after sim_world_step */
void sim_ice_init(struct sim *s);
void sim_ice_step(struct sim *s);

/* Speed conversions used by both profiles. */
static inline int64_t sim_kmh_x100(int64_t mm_s) /* mm/s -> 0.01 km/h */
{
	return mm_s * 9 / 25;
}

/* ---- filling frames -------------------------------------------------------------------- */

/*
 * A fill function sets the raw value of every value signal of its message
 * (not counters, checksums or the multiplexor; for a multiplexed message
 * only those of `mux`), in table order, with sim_put(). The model counts a
 * mismatch as a fill error.
 */
struct sim_out {
	const struct cnp_sim_message *msg;
	int64_t raw[SIM_MAX_SIGNALS];
	unsigned next;
	int mux;
	unsigned errors;
};

typedef void (*sim_fill_fn)(struct sim *s, struct sim_out *o, unsigned param, unsigned mux);

void sim_put(struct sim_out *o, int64_t raw);

struct cnp_sim_msg_impl {
	sim_fill_fn fill;
	unsigned param;
};

/* ---- building the tables ---------------------------------------------------------------- */

struct sim_builder;

/* A formatted name kept as long as the profile. */
const char *sim_b_name(struct sim_builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sim_b_profile(struct sim_builder *b, const char *title);
void sim_b_bus(struct sim_builder *b, const char *name, const char *role, uint32_t bitrate,
               uint32_t data_bitrate);
/* A message; ids above 0x7FF are 29-bit; messages on a bus with a data bit
 * rate are CAN FD. */
void sim_b_msg(struct sim_builder *b, uint32_t id, const char *name, unsigned bus,
               unsigned len, unsigned period_ms, const char *sender, sim_fill_fn fill,
               unsigned param);
void sim_b_msg_comment(struct sim_builder *b, const char *comment);
/* The current message starts a group of `n` sent back to back. */
void sim_b_burst(struct sim_builder *b, unsigned n);
/* The message's checksum: one byte whose first (Intel) or most significant
 * (Motorola) bit is `start`, computed with `kind`. */
void sim_b_checksum(struct sim_builder *b, unsigned start, unsigned flags,
                    enum cnp_sim_checksum kind);
void sim_b_counter(struct sim_builder *b, unsigned start, unsigned size, unsigned flags);
void sim_b_mux(struct sim_builder *b, const char *name, unsigned start, unsigned size,
               unsigned n_mux);
/* Value signals added next are sent under multiplexor value `mux` (-1: always). */
void sim_b_mux_of(struct sim_builder *b, int mux);
/* A value signal; min == max == 0: the whole raw range. */
void sim_b_sig(struct sim_builder *b, const char *name, unsigned start, unsigned size,
               unsigned flags, double factor, double offset, double min, double max,
               const char *unit);
void sim_b_vals(struct sim_builder *b, const char *values);
void sim_b_sig_comment(struct sim_builder *b, const char *comment);

void sim_ev_build(struct sim_builder *b);
void sim_ice_build(struct sim_builder *b);

#endif
