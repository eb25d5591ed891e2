/*
 * The simulated world both profiles share: the PRNG, the drive cycle
 * (park, then legs of urban, suburban or highway driving with stops and,
 * for a car that charges, a charging stop now and then), the vehicle's
 * longitudinal and lateral dynamics, and the traffic and roadside objects
 * its sensors see. One step is 10 ms of simulated time; everything is
 * integer arithmetic, so every architecture computes the same states.
 */
#include "drivers/sim_internal.h"

/* ---- PRNG ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream)
{
	/* Independent streams from one seed: each stream starts at a point of
	 * the splitmix64 sequence scrambled by the stream number. */
	r->s = mix64(seed ^ mix64(stream * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	r->s += 0x9E3779B97F4A7C15ull;
	return mix64(r->s);
}

int32_t sim_rng_range(struct sim_rng *r, int32_t lo, int32_t hi)
{
	uint64_t span = (uint64_t)((int64_t)hi - (int64_t)lo) + 1u;
	return (int32_t)((int64_t)lo + (int64_t)(sim_rng_next(r) % span));
}

int32_t sim_rng_noise(struct sim_rng *r, int32_t amp)
{
	if (amp <= 0)
		return 0;
	uint64_t x = sim_rng_next(r);
	/* Two uniforms from one draw: a triangle distribution in [-amp, amp]. */
	int64_t a = (int64_t)((x & 0xFFFFFFFFu) % ((uint64_t)amp + 1u));
	int64_t b = (int64_t)((x >> 32) % ((uint64_t)amp + 1u));
	return (int32_t)(a - b);
}

/* ---- helpers ------------------------------------------------------------------------ */

uint64_t sim_isqrt(uint64_t v)
{
	uint64_t r = 0, bit = (uint64_t)1 << 62;
	while (bit > v)
		bit >>= 2;
	while (bit) {
		if (v >= r + bit) {
			v -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

int32_t sim_interp(const int32_t *y, unsigned n, int32_t step, int32_t x)
{
	if (x <= 0)
		return y[0];
	int32_t i = x / step;
	if ((unsigned)i >= n - 1)
		return y[n - 1];
	int64_t f = x - (int64_t)i * step;
	return (int32_t)(y[i] + ((int64_t)(y[i + 1] - y[i]) * f) / step);
}

/* ---- the drive cycle ------------------------------------------------------------------ */

static int32_t kmh_to_mm_s(int32_t kmh)
{
	return kmh * 2500 / 9;
}

static void next_leg(struct sim *s)
{
	struct sim_drive *d = &s->drive;
	struct sim_rng *r = &s->world_rng;
	int32_t pick = sim_rng_range(r, 0, 99);
	d->road = pick < 50 ? ROAD_URBAN : pick < 80 ? ROAD_SUBURBAN : ROAD_HIGHWAY;
	int32_t kmh;
	switch (d->road) {
	case ROAD_URBAN:
		kmh = sim_rng_range(r, 30, 50);
		d->phase_len_ms = (uint32_t)sim_rng_range(r, 15000, 45000);
		d->speed_limit_kmh = 50;
		break;
	case ROAD_SUBURBAN:
		kmh = sim_rng_range(r, 60, 80);
		d->phase_len_ms = (uint32_t)sim_rng_range(r, 30000, 90000);
		d->speed_limit_kmh = 80;
		break;
	default:
		kmh = sim_rng_range(r, 100, 130);
		d->phase_len_ms = (uint32_t)sim_rng_range(r, 60000, 240000);
		d->speed_limit_kmh = 130;
		break;
	}
	d->cruise_mm_s = kmh_to_mm_s(kmh);
	d->phase = PH_DRIVE;
	d->phase_ms = 0;
	d->legs++;
}

static void end_leg(struct sim *s)
{
	struct sim_drive *d = &s->drive;
	static const int32_t stop_pct[] = {80, 40, 15}; /* urban, suburban, highway */
	if (sim_rng_range(&s->world_rng, 0, 99) < stop_pct[d->road]) {
		d->phase = PH_STOP; /* a red light, a junction, a jam */
		d->phase_ms = 0;
		d->phase_len_ms = (uint32_t)sim_rng_range(&s->world_rng, 5000, 30000);
	} else {
		next_leg(s);
	}
}

static void drive_step(struct sim *s)
{
	struct sim_drive *d = &s->drive;
	struct sim_rng *r = &s->world_rng;
	uint32_t dt = SIM_TICK_US / 1000u;
	switch (d->phase) {
	case PH_PARK:
		d->target_mm_s = 0;
		d->phase_ms += dt;
		if (d->phase_ms >= d->phase_len_ms)
			next_leg(s);
		break;
	case PH_DRIVE:
		d->phase_ms += dt;
		d->drive_ms += dt;
		if (d->phase_ms % 3000u == 0) /* the driver's foot wanders */
			d->wobble_target_mm_s = sim_rng_range(r, -d->cruise_mm_s / 40, d->cruise_mm_s / 40);
		d->wobble_mm_s += (d->wobble_target_mm_s - d->wobble_mm_s) / 300;
		d->target_mm_s = d->cruise_mm_s + d->wobble_mm_s;
		if (d->phase_ms >= d->phase_len_ms)
			end_leg(s);
		break;
	case PH_STOP:
		d->target_mm_s = 0;
		if (s->veh.v_mm_s == 0)
			d->phase_ms += dt; /* the stop counts from standstill */
		if (d->phase_ms >= d->phase_len_ms) {
			if (s->par.can_charge && d->drive_ms >= d->charge_after_ms) {
				d->phase = PH_CHARGE;
				d->phase_ms = 0;
				d->phase_len_ms = (uint32_t)sim_rng_range(r, 150000, 240000);
			} else {
				next_leg(s);
			}
		}
		break;
	case PH_CHARGE:
		d->target_mm_s = 0;
		d->phase_ms += dt;
		if (d->phase_ms >= d->phase_len_ms) {
			d->drive_ms = 0;
			d->charge_after_ms = (uint32_t)sim_rng_range(r, 480000, 720000);
			next_leg(s);
		}
		break;
	}
}

/* ---- vehicle dynamics -------------------------------------------------------------------- */

#define JERK_PER_STEP 25   /* mm/s^2 per 10 ms: 2.5 m/s^3 */
#define BRAKE_MAX 3000     /* mm/s^2 */
#define TRACK_HALF_MM 800
#define STEER_CDEG_PER_CURV 247 /* 0.01 deg per 1000 u/m: wheelbase 2.875 m, ratio 15 */

static void longitudinal(struct sim *s)
{
	struct sim_vehicle *v = &s->veh;
	int32_t target = s->drive.target_mm_s;
	int32_t speed = v->v_mm_s;
	int64_t a_des;
	if (target == 0) {
		a_des = -(speed / 2);
		if (speed > 0 && a_des > -700)
			a_des = -700; /* brake to a stop, not an endless creep */
	} else {
		a_des = (target - speed) / 2; /* close the gap in about 2 s */
	}
	int64_t v_floor = speed > 1000 ? speed : 1000;
	int64_t a_pow = (int64_t)s->par.power_max_w * 1000000 / ((int64_t)s->par.mass_kg * v_floor);
	int64_t a_max = a_pow < s->par.accel_max_mm_s2 ? a_pow : s->par.accel_max_mm_s2;
	a_des = sim_clamp(a_des, -BRAKE_MAX, a_max);
	v->a_mm_s2 += (int32_t)sim_clamp(a_des - v->a_mm_s2, -JERK_PER_STEP, JERK_PER_STEP);
	v->v_um_s += (int64_t)v->a_mm_s2 * 10;
	if (v->v_um_s <= 0) {
		v->v_um_s = 0;
		if (v->a_mm_s2 < 0)
			v->a_mm_s2 = 0;
	}
	v->v_mm_s = (int32_t)(v->v_um_s / 1000);
	v->odo_um += v->v_um_s / 100;

	/* Forces at the wheels: inertia, air drag, rolling resistance. */
	int64_t vv = (int64_t)v->v_mm_s * v->v_mm_s;
	int64_t aero = 6 * (int64_t)s->par.cda_cm2 * vv / 100000000000ll;
	int64_t roll = v->v_mm_s > 0 ? (int64_t)s->par.crr_ppm * s->par.mass_kg * 9810 / 1000000000ll
	                             : 0;
	v->resist_n = (int32_t)(aero + roll);
	v->force_n = (int32_t)((int64_t)s->par.mass_kg * v->a_mm_s2 / 1000 + v->resist_n);
	if (v->v_mm_s == 0 && v->a_mm_s2 == 0)
		v->force_n = 0;
	v->gear = s->drive.phase == PH_PARK || s->drive.phase == PH_CHARGE ? 0 : 3;
}

static void lateral(struct sim *s)
{
	struct sim_vehicle *v = &s->veh;
	struct sim_rng *r = &s->world_rng;
	uint32_t dt = SIM_TICK_US / 1000u;
	v->curv_hold_ms += dt;
	if (v->curv_hold_ms >= v->curv_hold_len_ms && v->v_mm_s > 2000) {
		v->curv_hold_ms = 0;
		v->curv_hold_len_ms = (uint32_t)sim_rng_range(r, 4000, 15000);
		int32_t lo, hi; /* radius range, m */
		switch (s->drive.road) {
		case ROAD_URBAN: lo = 30; hi = 150; break;
		case ROAD_SUBURBAN: lo = 150; hi = 600; break;
		default: lo = 600; hi = 2500; break;
		}
		if (sim_rng_range(r, 0, 99) < 55) {
			v->curv_target_u = 0;
		} else {
			int32_t radius = sim_rng_range(r, lo, hi);
			v->curv_target_u = (1000000 / radius) * (sim_rng_range(r, 0, 1) ? 1 : -1);
		}
		v->turn = 0;
		if (s->drive.road == ROAD_URBAN && sim_abs(v->curv_target_u) > 16000)
			v->turn = v->curv_target_u > 0 ? 1 : 2;
		v->lane_offset_target_mm = sim_rng_range(r, -300, 300);
	}
	/* Keep lateral acceleration below 3 m/s^2. */
	int64_t kmax = 40000;
	if (v->v_mm_s > 1000) {
		int64_t k = (int64_t)3000 * 1000000000ll / ((int64_t)v->v_mm_s * v->v_mm_s);
		if (k < kmax)
			kmax = k;
	}
	int64_t target = sim_clamp(v->curv_target_u, -kmax, kmax);
	v->curv_prev_u = v->curv_u;
	int64_t c = v->curv_u + (target - v->curv_u) / 150; /* about 1.5 s */
	v->curv_u = (int32_t)sim_clamp(c, -kmax, kmax);
	if (v->v_mm_s == 0)
		v->curv_u = v->curv_prev_u; /* the wheel stays where it was */
	v->yaw_urad_s = (int32_t)((int64_t)v->v_mm_s * v->curv_u / 1000);
	v->lat_mm_s2 = (int32_t)((int64_t)v->v_mm_s * v->yaw_urad_s / 1000000);
	int32_t prev = v->steer_cdeg;
	v->steer_cdeg = (int32_t)((int64_t)v->curv_u * STEER_CDEG_PER_CURV / 1000);
	v->steer_rate_cdeg_s = (v->steer_cdeg - prev) * 100;
	v->lane_offset_mm += (v->lane_offset_target_mm - v->lane_offset_mm) / 400;
	v->heading_urad = (v->lane_offset_target_mm - v->lane_offset_mm) / 4;

	int64_t d = (int64_t)v->yaw_urad_s * TRACK_HALF_MM / 1000000; /* mm/s */
	for (int w = 0; w < 4; w++) {
		int64_t ws = v->v_mm_s + ((w % 2 == 0) ? -d : d);
		if (v->v_mm_s == 0 || ws < 0)
			ws = 0;
		ws = ws * (1000000 + v->wheel_ppm[w]) / 1000000;
		v->wheel_mm_s[w] = (int32_t)ws;
		v->wheel_um[w] += ws * 10;
	}
}

/* ---- traffic and roadside objects --------------------------------------------------------- */

enum { CLS_POINT, CLS_CAR, CLS_TRUCK, CLS_MOTORCYCLE, CLS_BICYCLE, CLS_PEDESTRIAN,
	   CLS_STATIC, CLS_UNKNOWN };

static uint8_t new_id(struct sim *s)
{
	uint8_t id = s->next_track_id;
	s->next_track_id = (uint8_t)(id == 255 ? 1 : id + 1);
	return id;
}

static void dims(struct sim_target *t)
{
	switch (t->cls) {
	case CLS_TRUCK: t->length_mm = 12000; t->width_mm = 2500; break;
	case CLS_MOTORCYCLE: t->length_mm = 2200; t->width_mm = 800; break;
	case CLS_STATIC: t->length_mm = 400; t->width_mm = 400; break;
	default: t->length_mm = 4600; t->width_mm = 1850; break;
	}
}

static void spawn_traffic(struct sim *s, struct sim_target *t, int behind)
{
	struct sim_rng *r = &s->world_rng;
	int32_t lanes = s->drive.road == ROAD_HIGHWAY ? 2 : 1;
	int32_t lane = sim_rng_range(r, 1, lanes) * (sim_rng_range(r, 0, 1) ? 1 : -1);
	t->kind = TGT_TRAFFIC;
	int32_t c = sim_rng_range(r, 0, 99);
	t->cls = c < 75 ? CLS_CAR : c < 90 ? CLS_TRUCK : CLS_MOTORCYCLE;
	dims(t);
	t->lane_y_mm = lane * 3600;
	t->y_mm = t->lane_y_mm + sim_rng_range(r, -300, 300);
	if (behind) {
		t->x_mm = sim_rng_range(r, -75000, -65000);
		t->rel_mm_s = sim_rng_range(r, 500, 4000);
	} else {
		t->x_mm = sim_rng_range(r, 150000, 160000);
		t->rel_mm_s = sim_rng_range(r, -4000, -500);
	}
	t->vy_mm_s = 0;
	t->id = new_id(s);
	t->age = 0;
	t->active = 1;
}

static void spawn_static(struct sim *s, struct sim_target *t, int32_t x_lo, int32_t x_hi)
{
	struct sim_rng *r = &s->world_rng;
	t->kind = TGT_STATIC;
	t->cls = sim_rng_range(r, 0, 3) == 0 ? CLS_CAR : CLS_STATIC; /* parked car or a post */
	dims(t);
	t->x_mm = sim_rng_range(r, x_lo, x_hi);
	t->y_mm = sim_rng_range(r, 5500, 9000) * (sim_rng_range(r, 0, 1) ? 1 : -1);
	t->rel_mm_s = 0;
	t->vy_mm_s = 0;
	t->id = new_id(s);
	t->age = 0;
	t->active = 1;
}

static void traffic_init(struct sim *s)
{
	s->next_track_id = 1;
	struct sim_target *lead = &s->tgt[0];
	lead->kind = TGT_LEAD;
	lead->cls = CLS_CAR;
	dims(lead);
	lead->x_mm = 6000;
	lead->id = new_id(s);
	lead->active = 1;
	for (unsigned i = 1; i < 14; i++) {
		spawn_traffic(s, &s->tgt[i], 0);
		s->tgt[i].x_mm = sim_rng_range(&s->world_rng, -60000, 150000);
	}
	for (unsigned i = 14; i < SIM_TARGETS; i++)
		spawn_static(s, &s->tgt[i], -30000, 200000);
}

static void traffic_step(struct sim *s)
{
	int32_t ego = s->veh.v_mm_s;
	int32_t scale = ego < 15000 ? ego : 15000; /* traffic slows with the ego */
	for (unsigned i = 0; i < SIM_TARGETS; i++) {
		struct sim_target *t = &s->tgt[i];
		int32_t vx_prev = t->vx_mm_s;
		if (t->kind == TGT_LEAD) {
			int32_t gap = 6000 + (int32_t)((int64_t)ego * 1700 / 1000);
			int32_t vx = (gap - t->x_mm) / 2;
			vx = (int32_t)sim_clamp(vx, -4000, 4000);
			if (vx < -ego)
				vx = -ego; /* the lead does not reverse */
			t->vx_mm_s += (int32_t)sim_clamp(vx - t->vx_mm_s, -30, 30);
		} else if (t->kind == TGT_TRAFFIC) {
			t->vx_mm_s = (int32_t)((int64_t)t->rel_mm_s * scale / 15000);
			if (s->tick % 200u == i % 200u) /* drift within the lane */
				t->vy_mm_s = sim_rng_range(&s->world_rng, -150, 150);
			if (sim_abs(t->y_mm + t->vy_mm_s / 100 - t->lane_y_mm) > 500)
				t->vy_mm_s = -t->vy_mm_s;
		} else {
			t->vx_mm_s = -ego;
		}
		t->ax_mm_s2 = (int32_t)sim_clamp((int64_t)(t->vx_mm_s - vx_prev) * 100, -10000, 10000);
		t->x_mm += t->vx_mm_s / 100;
		t->y_mm += t->vy_mm_s / 100;
		if (t->age < 65535)
			t->age++;
		if (t->kind == TGT_TRAFFIC && (t->x_mm > 160000 || t->x_mm < -75000)) {
			spawn_traffic(s, t, t->x_mm > 0);
			t->vx_mm_s = (int32_t)((int64_t)t->rel_mm_s * scale / 15000);
			t->ax_mm_s2 = 0;
		} else if (t->kind == TGT_STATIC && t->x_mm < -40000) {
			spawn_static(s, t, 150000, 250000);
			t->ax_mm_s2 = 0;
		}
	}
}

/* ---- sensors ------------------------------------------------------------------------------ */

static int visible(enum sim_sensor_id id, const struct sim_target *t)
{
	int64_t x = t->x_mm, y = t->y_mm;
	int64_t d2 = x * x + y * y;
	const int64_t r80 = 80000ll * 80000ll;
	switch (id) {
	case SEN_RADAR_F:
		return x > 1000 && x < 200000 && sim_abs(y) <= x * 7 / 10 + 1500 && sim_abs(y) < 25000;
	case SEN_RADAR_FL:
		return x > -5000 && y > -1000 && x + y > 0 && d2 < r80;
	case SEN_RADAR_FR:
		return x > -5000 && y < 1000 && x - y > 0 && d2 < r80;
	case SEN_RADAR_RL:
		return x < 0 && y > -1000 && y - (x + 4700) > 0 && d2 < r80;
	case SEN_RADAR_RR:
		return x < 0 && y < 1000 && -y - (x + 4700) > 0 && d2 < r80;
	case SEN_CAMERA:
		return x > 2000 && x < 120000 && sim_abs(y) <= x * 6 / 10 + 1000 &&
		       (t->kind != TGT_STATIC || t->cls == CLS_CAR);
	default:
		return x > -80000 && x < 200000;
	}
}

static unsigned capacity(enum sim_sensor_id id)
{
	switch (id) {
	case SEN_RADAR_F: return 40;
	case SEN_CAMERA: return 30;
	case SEN_FUSION: return 30;
	default: return 20;
	}
}

void sim_sensor_measure(struct sim *s, enum sim_sensor_id id)
{
	struct sim_sensor *sen = &s->sensor[id];
	struct sim_rng *r = &s->noise_rng;
	unsigned idx[SIM_TARGETS], n = 0;
	int64_t key[SIM_TARGETS];
	for (unsigned i = 0; i < SIM_TARGETS; i++) {
		const struct sim_target *t = &s->tgt[i];
		if (!t->active || !visible(id, t))
			continue;
		int64_t k = (int64_t)t->x_mm * t->x_mm + (int64_t)t->y_mm * t->y_mm;
		unsigned j = n++;
		while (j > 0 && (key[j - 1] > k)) { /* insertion sort by range */
			key[j] = key[j - 1];
			idx[j] = idx[j - 1];
			j--;
		}
		key[j] = k;
		idx[j] = i;
	}
	unsigned cap = capacity(id);
	if (n > cap)
		n = cap;
	int camera = id == SEN_CAMERA, fusion = id == SEN_FUSION;
	for (unsigned k = 0; k < n; k++) {
		const struct sim_target *t = &s->tgt[idx[k]];
		struct sim_obj *o = &sen->obj[k];
		int32_t range = (int32_t)sim_isqrt((uint64_t)key[k]);
		int32_t nx = camera ? 50 + range / 50 : fusion ? 50 : 100;
		int32_t ny = camera ? 50 + range / 400 : fusion ? 50 : 100 + range / 200;
		o->x_mm = t->x_mm + sim_rng_noise(r, nx);
		o->y_mm = t->y_mm + sim_rng_noise(r, ny);
		o->vx_mm_s = t->vx_mm_s + sim_rng_noise(r, camera ? 300 : 100);
		o->vy_mm_s = t->vy_mm_s + sim_rng_noise(r, 100);
		o->ax_mm_s2 = t->ax_mm_s2 + sim_rng_noise(r, 200);
		o->length_mm = t->length_mm + sim_rng_noise(r, 200);
		o->width_mm = t->width_mm + sim_rng_noise(r, 50);
		int32_t rcs = t->cls == CLS_TRUCK ? 2000 : t->cls == CLS_CAR ? 1000
		              : t->cls == CLS_MOTORCYCLE ? 500 : 300;
		o->rcs_cdb = rcs - range / 2000 + sim_rng_noise(r, 300); /* -1 dB per 20 m */
		o->id = t->id;
		o->cls = t->cls;
		o->prob = (uint8_t)(range < 100000 ? 7 : range < 150000 ? 6 : 5);
		int32_t abs_speed = t->vx_mm_s + s->veh.v_mm_s;
		o->dyn = (uint8_t)(sim_abs(abs_speed) < 500 ? 1 : abs_speed < -500 ? 2 : 0);
		o->meas = (uint8_t)(t->age < 5 ? 1 : 2);
		o->age = (uint8_t)(t->age / 5 > 255 ? 255 : t->age / 5);
	}
	sen->n = n;
	sen->cycle++;
}

/* ---- the world ------------------------------------------------------------------------------ */

void sim_world_init(struct sim *s, uint64_t seed)
{
	sim_rng_seed(&s->world_rng, seed, 2);
	sim_rng_seed(&s->noise_rng, seed, 3);
	struct sim_rng *r = &s->world_rng;
	struct sim_drive *d = &s->drive;
	d->phase = PH_PARK;
	d->phase_len_ms = (uint32_t)sim_rng_range(r, 4000, 8000);
	d->charge_after_ms = (uint32_t)sim_rng_range(r, 480000, 720000);
	d->road = ROAD_URBAN;
	d->speed_limit_kmh = 50;
	struct sim_vehicle *v = &s->veh;
	v->ambient_mc = sim_rng_range(r, 2000, 30000);
	v->odo_start_hm = sim_rng_range(r, 50000, 800000);
	for (int w = 0; w < 4; w++)
		v->wheel_ppm[w] = sim_rng_range(r, -3000, 3000);
	traffic_init(s);
}

void sim_world_step(struct sim *s)
{
	drive_step(s);
	longitudinal(s);
	lateral(s);
	traffic_step(s);
}
