/*
 * Profile "ev": a dual-motor battery-electric car with driver assistance.
 *
 *   can0 powertrain, 500 kbit/s: vehicle control unit, two drive units
 *        (inverter and motor, front and rear), battery management with
 *        108 cells in series (multiplexed cell voltages and 48 cell
 *        temperatures, each every 100 ms), DC charging and on-board charger
 *        (29-bit ids), DC-DC converter, thermal system.
 *   can1 chassis, 500 kbit/s: wheel speeds and pulses, yaw rate and
 *        accelerations, steering angle, power steering, brake booster,
 *        tyre pressures, lights and doors.
 *   can2 ADAS, CAN FD 500 kbit/s / 2 Mbit/s: object lists of a front radar,
 *        four corner radars, a front camera and the fusion ECU in 64-byte
 *        frames; lane lines, traffic signs, ACC, lane keeping and AEB.
 *
 * Frames carry a CRC-8 (SAE J1850) in byte 0 and a 4-bit rolling counter
 * in bits 8..11, as AUTOSAR E2E profile 1 lays them out, except the
 * multiplexed BMS frames (no room) and the charger's J1939-style frames.
 */
#include "drivers/sim_internal.h"

#include <string.h>

#define S CNP_SIM_SIG_SIGNED
#define BUS_PT 0
#define BUS_CH 1
#define BUS_ADAS 2

/* ---- physics ------------------------------------------------------------------ */

#define GEAR_X100 900           /* reduction 9.0 */
#define RPM_PER_MM_S_X10000 2528 /* wheel radius 0.34 m, reduction 9 */
#define CAPACITY_MAH 180000     /* 108s2p of 90 Ah cells */

/* Open-circuit voltage of one NMC cell, microvolts, at 0, 10, ... 100 % charge. */
static const int32_t ocv_table_uv[] = {3300000, 3550000, 3620000, 3680000, 3740000, 3800000,
                                       3870000, 3950000, 4030000, 4110000, 4190000};

static int32_t ocv_uv(int32_t soc_ppm)
{
	return sim_interp(ocv_table_uv, 11, 100000, soc_ppm);
}

struct ev_sums {
	int64_t off_uv, r_uohm;
};

static struct ev_sums cell_sums(const struct sim_ev *ev)
{
	struct ev_sums t = {0, 0};
	for (int i = 0; i < EV_CELLS; i++) {
		t.off_uv += ev->cell_off_uv[i];
		t.r_uohm += ev->cell_r_uohm[i];
	}
	return t;
}

void sim_ev_init(struct sim *s)
{
	struct sim_ev *ev = &s->ev;
	struct sim_rng *r = &s->world_rng;
	s->par.mass_kg = 2150;
	s->par.cda_cm2 = 6300;
	s->par.crr_ppm = 9000;
	s->par.power_max_w = 100000; /* what the driver asks of the 250 kW */
	s->par.accel_max_mm_s2 = 2000;
	s->par.wheel_radius_mm = 340;
	s->par.can_charge = 1;
	ev->capacity_q = (int64_t)CAPACITY_MAH * 3600 * 100; /* mA * 10 ms */
	ev->soc_ppm = sim_rng_range(r, 450000, 900000);
	ev->charge_q = ev->capacity_q / 1000000 * ev->soc_ppm;
	ev->soh_pm = sim_rng_range(r, 930, 990);
	for (int i = 0; i < EV_CELLS; i++) {
		ev->cell_off_uv[i] = sim_rng_noise(r, 6000);
		ev->cell_r_uohm[i] = 950 + sim_rng_noise(r, 80);
	}
	int32_t amb = s->veh.ambient_mc;
	for (int i = 0; i < EV_TEMPS; i++)
		ev->temp_off_mc[i] = sim_rng_noise(r, 1200) + (i / 4) * 60;
	ev->pack_t_uc = (int64_t)(amb + 3000) * 1000;
	ev->cool_batt_mc = amb + 1000;
	ev->cool_motor_mc = amb;
	ev->cabin_mc = amb;
	ev->setpoint_mc = 21500;
	for (int m = 0; m < 2; m++) {
		for (int k = 0; k < 3; k++)
			ev->mot[m].t_igbt_mc[k] = amb + k * 300;
		ev->mot[m].t_stator_mc = amb;
		ev->mot[m].t_rotor_mc = amb;
		ev->mot[m].t_coolant_mc = amb;
	}
	ev->iso_kohm = sim_rng_range(r, 2500, 4500);
	ev->regen_level = sim_rng_range(r, 1, 3);
	ev->drive_mode = 1;
	ev->drive_state = 1;
	ev->bms_state = 1;
	ev->evse_max_a = 500;
	struct ev_sums t = cell_sums(ev);
	ev->pack_mv = (int32_t)(((int64_t)ocv_uv(ev->soc_ppm) * EV_CELLS + t.off_uv) / 1000);
}

/* Contactors close half a second after start, through a one-second precharge. */
static int32_t precharge_pm(const struct sim *s)
{
	uint64_t t = s->now_us / 1000u;
	if (t < 500)
		return 0;
	if (t < 1500)
		return (int32_t)(t - 500);
	return 1000;
}

static int32_t charge_target_w(int32_t soc_ppm)
{
	if (soc_ppm >= 800000)
		return 0;
	if (soc_ppm <= 500000)
		return 150000;
	return 150000 - (int32_t)((int64_t)(soc_ppm - 500000) * 100000 / 300000);
}

static void motors(struct sim *s)
{
	struct sim_ev *ev = &s->ev;
	struct sim_vehicle *v = &s->veh;
	int32_t f = v->force_n, f_drive = 0, f_regen = 0, f_fric = 0;
	if (f >= 0) {
		f_drive = f;
	} else {
		static const int32_t regen_w[] = {30000, 45000, 60000, 80000};
		int64_t fmax = v->v_mm_s > 1400 ? (int64_t)regen_w[ev->regen_level] * 1000 / v->v_mm_s : 0;
		if (v->v_mm_s < 2800)
			fmax = fmax * (v->v_mm_s > 1400 ? v->v_mm_s - 1400 : 0) / 1400;
		if (fmax > 9000)
			fmax = 9000;
		f_regen = f < -fmax ? (int32_t)-fmax : f;
		f_fric = f_regen - f;
	}
	v->friction_n = f_fric;
	int stopped = v->v_mm_s == 0 && s->drive.target_mm_s == 0;
	v->brake_bar_x10 = f_fric / 25 + (stopped && v->gear ? 150 : 0);
	v->brake_pedal_pm = f < 0 ? (int32_t)sim_clamp((int64_t)-f * 1000 / (s->par.mass_kg * 8), 0, 1000)
	                          : (stopped && v->gear ? 200 : 0);
	int64_t fmax_drive = v->v_mm_s > 5000 ? 250000LL * 1000 / v->v_mm_s : 50000;
	v->pedal_pm = (int32_t)sim_clamp((int64_t)f_drive * 1000 / (fmax_drive > 9000 ? 9000 : fmax_drive),
	                                 0, 1000);
	int running = ev->drive_state == 2 || ev->drive_state == 3;
	int32_t rpm = (int32_t)((int64_t)v->v_mm_s * RPM_PER_MM_S_X10000 / 10000);
	for (int m = 0; m < 2; m++) {
		struct sim_motor *mo = &ev->mot[m];
		int32_t share = f >= 0 ? (m == 0 ? 65 : 35) : 50;
		int32_t fw = (int32_t)((int64_t)(f_drive + f_regen) * share / 100);
		/* wheel torque (0.1 Nm) = F * 0.34 m * 10, motor = wheel / 9.0 */
		int32_t req = running ? (int32_t)((int64_t)fw * 34 * 100 / (10 * GEAR_X100)) : 0;
		mo->torque_max_dnm = m == 0 ? 3500 : 2500;
		if (mo->t_stator_mc > 140000)
			mo->torque_max_dnm = mo->torque_max_dnm * 7 / 10;
		req = (int32_t)sim_clamp(req, -2000, mo->torque_max_dnm);
		mo->torque_req_dnm = req;
		mo->torque_dnm += (req - mo->torque_dnm) / 2; /* current loop: ~20 ms */
		mo->rpm = rpm;
		mo->p_mech_w = (int32_t)((int64_t)mo->torque_dnm * rpm * 10472 / 1000000);
		int32_t idle = running ? 120 : 0;
		mo->p_elec_w = mo->p_mech_w >= 0 ? mo->p_mech_w * 100 / 92 + idle
		                                 : mo->p_mech_w * 92 / 100 + idle;
		mo->iq_da = mo->torque_dnm * 10 / 7; /* kt 0.7 Nm/A */
		mo->id_da = rpm > 5000 ? -(rpm - 5000) * 15 / 100 : 0; /* field weakening */
		mo->irms_da = (int32_t)sim_isqrt(((uint64_t)((int64_t)mo->id_da * mo->id_da) +
		                                  (uint64_t)((int64_t)mo->iq_da * mo->iq_da)) / 2);
		mo->vq_dv = (int32_t)((int64_t)rpm * 2513 / 10000 + mo->iq_da / 50);
		mo->vd_dv = (int32_t)(-(int64_t)rpm * mo->iq_da * 8378 / 100000000);
		mo->dc_current_da = ev->pack_mv > 0 ? (int32_t)((int64_t)mo->p_elec_w * 10000 / ev->pack_mv) : 0;
	}
}

static void battery(struct sim *s)
{
	struct sim_ev *ev = &s->ev;
	const struct sim_drive *d = &s->drive;
	int32_t p = ev->mot[0].p_elec_w + ev->mot[1].p_elec_w + ev->aux_w + ev->hvac_w;
	ev->charge_power_w = 0;
	if (d->phase == PH_CHARGE) {
		ev->charge_ms = d->phase_ms;
		uint32_t t = d->phase_ms, end = d->phase_len_ms;
		int32_t target = charge_target_w(ev->soc_ppm);
		if (t < 3000) {
			ev->charge_state = CHG_PLUGGED;
		} else if (t < 8000) {
			ev->charge_state = CHG_HANDSHAKE;
		} else if (t + 10000 >= end || target == 0) {
			ev->charge_state = target == 0 ? CHG_COMPLETE : CHG_FINISHING;
		} else {
			ev->charge_state = CHG_CHARGING;
			int32_t ramp = (int32_t)(t - 8000) * 30; /* 30 kW/s ramp-up */
			ev->charge_power_w = target < ramp ? target : ramp;
		}
		p -= ev->charge_power_w;
	} else {
		ev->charge_state = CHG_IDLE;
		ev->charge_ms = 0;
	}
	if (precharge_pm(s) < 1000)
		p = 0; /* contactors open: nothing flows */
	ev->current_ma = ev->pack_mv > 0 ? (int32_t)((int64_t)p * 1000000 / ev->pack_mv) : 0;
	ev->charge_q -= ev->current_ma;
	ev->charge_q = sim_clamp(ev->charge_q, 0, ev->capacity_q);
	ev->soc_ppm = (int32_t)(ev->charge_q * 1000000 / ev->capacity_q);
	struct ev_sums t = cell_sums(ev);
	int64_t uv = (int64_t)ocv_uv(ev->soc_ppm) * EV_CELLS + t.off_uv -
	             (int64_t)ev->current_ma * t.r_uohm / 1000;
	ev->pack_mv = (int32_t)(uv / 1000);
}

static void states(struct sim *s)
{
	struct sim_ev *ev = &s->ev;
	const struct sim_drive *d = &s->drive;
	if (d->phase == PH_CHARGE)
		ev->drive_state = 4;
	else if (d->phase == PH_PARK)
		ev->drive_state = precharge_pm(s) < 1000 ? 1 : 2;
	else
		ev->drive_state = 3;
	if (precharge_pm(s) == 0)
		ev->bms_state = 1;
	else if (precharge_pm(s) < 1000)
		ev->bms_state = 2;
	else
		ev->bms_state = d->phase == PH_CHARGE ? 4 : 3;
}

/* Every 100 ms: temperatures, climate, and the BMS's cell measurements. */
static void slow(struct sim *s)
{
	struct sim_ev *ev = &s->ev;
	struct sim_rng *r = &s->world_rng;
	int32_t amb = s->veh.ambient_mc;
	int64_t pack_mc = ev->pack_t_uc / 1000;

	/* Climate: the cabin is held at the set point. */
	int64_t need = sim_abs((int64_t)ev->setpoint_mc - amb) * 12 / 100 +
	               sim_abs((int64_t)ev->setpoint_mc - ev->cabin_mc) / 10;
	ev->hvac_w = (int32_t)sim_clamp(need, 0, 6000);
	ev->heater_w = amb < 5000 ? ev->hvac_w / 2 : 0;
	sim_lag(&ev->cabin_mc, ev->setpoint_mc, 2000);
	ev->blower = (int32_t)sim_clamp(1 + sim_abs((int64_t)ev->setpoint_mc - ev->cabin_mc) / 2000, 1, 7);
	ev->aux_w = 250 + ev->blower * 40 + (s->veh.gear ? 120 : 0);

	/* Battery: I^2 R heating against the coolant. */
	int64_t amps_x1000 = ev->current_ma;
	struct ev_sums t = cell_sums(ev);
	int64_t loss_w = amps_x1000 * amps_x1000 / 1000000 * t.r_uohm / 1000000;
	ev->chiller = pack_mc > 32000 || (ev->charge_power_w > 50000 && pack_mc > 28000);
	int heating = pack_mc < 10000 && s->drive.phase != PH_PARK;
	ev->pump_batt_pct = ev->chiller || heating ? 80 : 35;
	int64_t g = 60 + 3 * ev->pump_batt_pct; /* W/K */
	int64_t net = loss_w - g * (pack_mc - ev->cool_batt_mc) / 1000;
	ev->pack_t_uc += net * 100000 / 350000;
	int64_t cool_target = ev->chiller ? 18000 : heating ? 30000 : (pack_mc + amb) / 2;
	sim_lag(&ev->cool_batt_mc, cool_target, 600);
	ev->compressor_rpm = ev->hvac_w > 300 || ev->chiller
	                         ? (int32_t)sim_clamp(800 + ev->hvac_w + (ev->chiller ? 2500 : 0), 0, 8000)
	                         : 0;

	/* Drive units: losses heat the stator, the rotor and the IGBTs. */
	int64_t loss_sum = 0;
	for (int m = 0; m < 2; m++) {
		struct sim_motor *mo = &ev->mot[m];
		int64_t pm = sim_abs(mo->p_mech_w);
		int64_t lm = pm * 6 / 100 + (mo->rpm ? 150 : 0);
		int64_t li = pm * 2 / 100 + 50;
		loss_sum += lm + li;
		sim_lag(&mo->t_stator_mc, ev->cool_motor_mc + lm * 40, 600);
		sim_lag(&mo->t_rotor_mc, ev->cool_motor_mc + lm * 60, 3000);
		for (int k = 0; k < 3; k++)
			sim_lag(&mo->t_igbt_mc[k], ev->cool_motor_mc + li * 20 + k * 300, 30);
		sim_lag(&mo->t_coolant_mc, ev->cool_motor_mc + li * 2, 100);
	}
	ev->pump_motor_pct = (int32_t)sim_clamp(30 + loss_sum / 100, 30, 100);
	sim_lag(&ev->cool_motor_mc, amb + 8000 + loss_sum * 5, 1200);

	/* BMS: all cells and sensors sampled at once. */
	int32_t ocv = ocv_uv(ev->soc_ppm);
	int32_t vmin = INT32_MAX;
	for (int i = 0; i < EV_CELLS; i++) {
		int64_t uv = (int64_t)ocv + ev->cell_off_uv[i] -
		             (int64_t)ev->current_ma * ev->cell_r_uohm[i] / 1000;
		ev->cell_mv[i] = (int32_t)(uv / 1000) + sim_rng_noise(r, 1);
		if (ev->cell_mv[i] < vmin)
			vmin = ev->cell_mv[i];
	}
	ev->balancing = 0;
	if (ev->current_ma > -5000 && ev->current_ma < 50000)
		for (int i = 0; i < EV_CELLS; i++)
			ev->balancing += ev->cell_mv[i] > vmin + 8;
	pack_mc = ev->pack_t_uc / 1000;
	for (int i = 0; i < EV_TEMPS; i++) {
		/* modules near the coolant inlet run cooler */
		int64_t grad = (pack_mc - ev->cool_batt_mc) * (EV_TEMPS - i) / (3 * EV_TEMPS);
		ev->temp_mc[i] = (int32_t)(pack_mc + ev->temp_off_mc[i] - grad) + sim_rng_noise(r, 100);
	}
	if (s->tick % 1000u == 0)
		ev->iso_kohm = (int32_t)sim_clamp(ev->iso_kohm + sim_rng_noise(r, 50), 1500, 6000);
}

void sim_ev_step(struct sim *s)
{
	states(s);
	motors(s);
	battery(s);
	if (s->tick % SIM_SLOW_TICKS == 0)
		slow(s);
}

/* ---- helpers for fills ------------------------------------------------------------ */

static int64_t t05(int64_t mc) /* 0.5 degC, offset -40 */
{
	return (mc + 40000) / 500;
}

static int64_t t1(int64_t mc) /* 1 degC, offset -40 */
{
	return (mc + 40000) / 1000;
}

static int32_t nz(struct sim *s, int32_t amp)
{
	return sim_rng_noise(&s->noise_rng, amp);
}

/* Noise must not push a magnitude below zero. */
static int64_t pos(int64_t v)
{
	return v < 0 ? 0 : v;
}

static void hdr(struct sim_builder *b)
{
	sim_b_checksum(b, 0, 0, CNP_SIM_CK_CRC8_J1850);
	sim_b_counter(b, 8, 4, 0);
}

static void sig(struct sim_builder *b, const char *name, unsigned start, unsigned size,
                unsigned flags, double factor, double offset, double min, double max,
                const char *unit)
{
	sim_b_sig(b, name, start, size, flags, factor, offset, min, max, unit);
}

static const char VAL_ONOFF[] = "0 \"Off\" 1 \"On\"";
static const char VAL_TEMP_UNIT[] = "degC";

/* ---- VCU ---------------------------------------------------------------------------- */

static void fill_vcu_cmd(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, s->ev.drive_state);
	sim_put(o, s->ev.mot[0].torque_req_dnm);
	sim_put(o, s->ev.mot[1].torque_req_dnm);
	sim_put(o, v->pedal_pm / 4);
	sim_put(o, v->brake_pedal_pm > 20);
	sim_put(o, v->gear);
	sim_put(o, s->ev.regen_level);
	sim_put(o, s->ev.drive_mode);
}

static void fill_vcu_status(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	sim_put(o, ev->drive_state == 2 || ev->drive_state == 3);
	sim_put(o, s->drive.phase == PH_CHARGE);
	sim_put(o, 1);
	sim_put(o, ev->regen_level < 3);
	sim_put(o, sim_kmh_x100(s->veh.v_mm_s));
	sim_put(o, s->veh.odo_start_hm + s->veh.odo_um / 100000000);
	/* range: remaining energy at 170 Wh/km, in 2 km steps */
	int64_t wh = (int64_t)ev->soc_ppm * CAPACITY_MAH / 1000 * 389 / 1000000;
	sim_put(o, wh * ev->soh_pm / 1000 / 170 / 2);
}

static void fill_vcu_power(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	sim_put(o, ev->aux_w + ev->hvac_w + nz(s, 10));
	int64_t temp_derate = ev->pack_t_uc > 45000000 ? 50 : 100;
	sim_put(o, 2500 * temp_derate / 100);
	sim_put(o, ev->soc_ppm > 950000 ? 200 : 800);
	int64_t w = (int64_t)ev->mot[0].p_elec_w + ev->mot[1].p_elec_w + ev->aux_w + ev->hvac_w;
	int64_t kmh100 = sim_kmh_x100(s->veh.v_mm_s);
	int64_t whkm = kmh100 > 500 ? w * 100 / kmh100 : 0; /* W / (km/h) = Wh/km */
	sim_put(o, sim_clamp(whkm, 0, 510) / 2);
}

/* ---- drive units --------------------------------------------------------------------- */

static void fill_inv_status(struct sim *s, struct sim_out *o, unsigned m, unsigned mux)
{
	(void)mux;
	const struct sim_ev *ev = &s->ev;
	const struct sim_motor *mo = &ev->mot[m];
	int32_t pc = precharge_pm(s);
	int state = pc == 0 ? 1 : pc < 1000 ? 2 : mo->torque_max_dnm < (m ? 2500 : 3500) ? 4 : 3;
	sim_put(o, state);
	sim_put(o, pos(((int64_t)ev->pack_mv * pc / 1000 - 400 + nz(s, 200)) / 100));
	sim_put(o, mo->dc_current_da + nz(s, 5));
	sim_put(o, mo->torque_dnm + nz(s, 3));
}

static void fill_inv_motor(struct sim *s, struct sim_out *o, unsigned m, unsigned mux)
{
	(void)mux;
	const struct sim_motor *mo = &s->ev.mot[m];
	sim_put(o, mo->rpm > 0 ? 1 : 0);
	sim_put(o, mo->rpm + (mo->rpm ? nz(s, 2) : 0));
	sim_put(o, mo->id_da + nz(s, 4));
	sim_put(o, mo->iq_da + nz(s, 4));
}

static void fill_inv_elec(struct sim *s, struct sim_out *o, unsigned m, unsigned mux)
{
	(void)mux;
	const struct sim_motor *mo = &s->ev.mot[m];
	sim_put(o, pos(mo->irms_da + nz(s, 3)));
	sim_put(o, mo->vd_dv + nz(s, 3));
	sim_put(o, mo->vq_dv + nz(s, 3));
}

static void fill_inv_limits(struct sim *s, struct sim_out *o, unsigned m, unsigned mux)
{
	(void)mux;
	const struct sim_motor *mo = &s->ev.mot[m];
	sim_put(o, mo->torque_max_dnm);
	sim_put(o, -2000);
	sim_put(o, mo->p_mech_w / 100);
}

static void fill_inv_temps(struct sim *s, struct sim_out *o, unsigned m, unsigned mux)
{
	(void)mux;
	const struct sim_motor *mo = &s->ev.mot[m];
	for (int k = 0; k < 3; k++)
		sim_put(o, t1(mo->t_igbt_mc[k]));
	sim_put(o, t1(mo->t_coolant_mc));
	sim_put(o, t1(mo->t_stator_mc));
	sim_put(o, t1(mo->t_rotor_mc));
}

static void build_drive_unit(struct sim_builder *b, uint32_t base, char side, unsigned m)
{
	const char *inv = side == 'R' ? "INV_R" : "INV_F";
	const char *mot = side == 'R' ? "MOT_R" : "MOT_F";
	double tmax = side == 'R' ? 400 : 350;
	sim_b_msg(b, base, sim_b_name(b, "%s_Status", inv), BUS_PT, 8, 10, inv, fill_inv_status, m);
	hdr(b);
	sig(b, sim_b_name(b, "%s_State", inv), 12, 4, 0, 1, 0, 0, 5, "");
	sim_b_vals(b, "0 \"Init\" 1 \"Standby\" 2 \"Precharge\" 3 \"Run\" 4 \"Derate\" 5 \"Fault\"");
	sig(b, sim_b_name(b, "%s_DcVoltage", inv), 16, 16, 0, 0.1, 0, 0, 1000, "V");
	sig(b, sim_b_name(b, "%s_DcCurrent", inv), 32, 16, S, 0.1, 0, -1000, 1000, "A");
	sig(b, sim_b_name(b, "%s_Torque", mot), 48, 16, S, 0.1, 0, -tmax, tmax, "Nm");

	sim_b_msg(b, base + 1, sim_b_name(b, "%s_Motor", inv), BUS_PT, 8, 10, inv, fill_inv_motor, m);
	hdr(b);
	sig(b, sim_b_name(b, "%s_Direction", mot), 12, 2, 0, 1, 0, 0, 2, "");
	sim_b_vals(b, "0 \"Standstill\" 1 \"Forward\" 2 \"Reverse\"");
	sig(b, sim_b_name(b, "%s_Speed", mot), 16, 16, S, 1, 0, -16000, 16000, "rpm");
	sig(b, sim_b_name(b, "%s_Id", mot), 32, 16, S, 0.1, 0, -1000, 1000, "A");
	sig(b, sim_b_name(b, "%s_Iq", mot), 48, 16, S, 0.1, 0, -1000, 1000, "A");

	sim_b_msg(b, base + 2, sim_b_name(b, "%s_Electrical", inv), BUS_PT, 8, 10, inv, fill_inv_elec, m);
	hdr(b);
	sig(b, sim_b_name(b, "%s_Irms", mot), 16, 16, 0, 0.1, 0, 0, 1000, "A");
	sig(b, sim_b_name(b, "%s_Vd", mot), 32, 16, S, 0.1, 0, -500, 500, "V");
	sig(b, sim_b_name(b, "%s_Vq", mot), 48, 16, S, 0.1, 0, -500, 500, "V");

	sim_b_msg(b, base + 3, sim_b_name(b, "%s_Limits", inv), BUS_PT, 8, 20, inv, fill_inv_limits, m);
	hdr(b);
	sig(b, sim_b_name(b, "%s_TorqueMaxDrive", inv), 16, 16, 0, 0.1, 0, 0, 400, "Nm");
	sig(b, sim_b_name(b, "%s_TorqueMaxRegen", inv), 32, 16, S, 0.1, 0, -400, 0, "Nm");
	sig(b, sim_b_name(b, "%s_PowerMech", mot), 48, 16, S, 0.1, 0, -300, 300, "kW");

	sim_b_msg(b, base + 4, sim_b_name(b, "%s_Temps", inv), BUS_PT, 8, 100, inv, fill_inv_temps, m);
	hdr(b);
	sig(b, sim_b_name(b, "%s_TempIgbtU", inv), 16, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, sim_b_name(b, "%s_TempIgbtV", inv), 24, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, sim_b_name(b, "%s_TempIgbtW", inv), 32, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, sim_b_name(b, "%s_TempCoolant", inv), 40, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, sim_b_name(b, "%s_TempStator", mot), 48, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, sim_b_name(b, "%s_TempRotor", mot), 56, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
}

/* ---- BMS ------------------------------------------------------------------------------ */

static void fill_bms_pack(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int32_t pc = precharge_pm(s);
	sim_put(o, ev->bms_state);
	sim_put(o, (ev->pack_mv + nz(s, 20)) / 10);
	sim_put(o, ev->current_ma / 100 + nz(s, 2));
	sim_put(o, ev->soc_ppm / 1000);
	sim_put(o, pc == 0 ? 0 : pc < 1000 ? 1 : 2);
	sim_put(o, 0);
	sim_put(o, s->drive.phase == PH_CHARGE && ev->charge_state <= CHG_FINISHING);
}

static void fill_bms_energy(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	sim_put(o, ev->soc_ppm / 5000);
	sim_put(o, ev->soh_pm / 5);
	int64_t wh = (int64_t)ev->soc_ppm * CAPACITY_MAH / 1000 * 389 / 1000000 * ev->soh_pm / 1000;
	sim_put(o, wh / 10);
	int64_t minutes = 0;
	if (ev->charge_power_w > 0 && ev->soc_ppm < 800000)
		minutes = (int64_t)(800000 - ev->soc_ppm) * CAPACITY_MAH / 1000 * 389 / 1000000 * 60 /
		          (ev->charge_power_w / 1000 > 0 ? ev->charge_power_w / 1000 : 1) / 1000;
	sim_put(o, sim_clamp(minutes, 0, 1023));
}

static void fill_bms_limits(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int64_t pack_mc = ev->pack_t_uc / 1000;
	int64_t dis = ev->soc_ppm < 100000 ? 200 + ev->soc_ppm / 500 : 600;
	int64_t chg = ev->soc_ppm > 600000 ? 450 - (ev->soc_ppm - 600000) / 1000 : 450;
	if (pack_mc < 10000) {
		dis = dis * 6 / 10;
		chg = chg / 3;
	}
	chg = sim_clamp(chg, 20, 450);
	sim_put(o, dis);
	sim_put(o, chg);
	sim_put(o, sim_clamp(dis * ev->pack_mv / 100000, 0, 4095));
	sim_put(o, sim_clamp(chg * ev->pack_mv / 100000, 0, 4095));
}

static void fill_bms_cellstats(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int imax = 0, imin = 0;
	for (int i = 1; i < EV_CELLS; i++) {
		if (ev->cell_mv[i] > ev->cell_mv[imax])
			imax = i;
		if (ev->cell_mv[i] < ev->cell_mv[imin])
			imin = i;
	}
	sim_put(o, ev->cell_mv[imax]);
	sim_put(o, ev->cell_mv[imin]);
	sim_put(o, imax + 1);
	sim_put(o, imin + 1);
	sim_put(o, sim_clamp(ev->cell_mv[imax] - ev->cell_mv[imin], 0, 255));
}

static void fill_bms_tempstats(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int imax = 0, imin = 0;
	int64_t sum = 0;
	for (int i = 0; i < EV_TEMPS; i++) {
		if (ev->temp_mc[i] > ev->temp_mc[imax])
			imax = i;
		if (ev->temp_mc[i] < ev->temp_mc[imin])
			imin = i;
		sum += ev->temp_mc[i];
	}
	sim_put(o, t05(ev->temp_mc[imax]));
	sim_put(o, t05(ev->temp_mc[imin]));
	sim_put(o, imax + 1);
	sim_put(o, imin + 1);
	sim_put(o, ev->balancing > 0);
	sim_put(o, ev->balancing);
	sim_put(o, t05(sum / EV_TEMPS));
}

static void fill_bms_iso(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	int32_t pc = precharge_pm(s);
	sim_put(o, s->ev.iso_kohm);
	sim_put(o, 1);
	sim_put(o, pc >= 1000);
	sim_put(o, pc > 0);
	sim_put(o, pc > 0 && pc < 1000);
	sim_put(o, 0);
}

static void fill_bms_cells(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p;
	for (unsigned k = 0; k < EV_CELLS_PER_FRAME; k++)
		sim_put(o, s->ev.cell_mv[mux * EV_CELLS_PER_FRAME + k]);
}

static void fill_bms_temps(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p;
	for (unsigned k = 0; k < EV_TEMPS_PER_FRAME; k++)
		sim_put(o, t05(s->ev.temp_mc[mux * EV_TEMPS_PER_FRAME + k]));
}

static void build_bms(struct sim_builder *b)
{
	sim_b_msg(b, 0x120, "BMS_PackStatus", BUS_PT, 8, 10, "BMS", fill_bms_pack, 0);
	hdr(b);
	sig(b, "BMS_State", 12, 4, 0, 1, 0, 0, 6, "");
	sim_b_vals(b, "0 \"Init\" 1 \"Standby\" 2 \"Precharge\" 3 \"Drive\" 4 \"Charge\" 5 \"Balance\" "
	              "6 \"Fault\"");
	sig(b, "BMS_PackVoltage", 16, 16, 0, 0.01, 0, 0, 655.35, "V");
	sig(b, "BMS_PackCurrent", 32, 16, S, 0.1, 0, -1000, 1000, "A");
	sim_b_sig_comment(b, "positive: discharging");
	sig(b, "BMS_Soc", 48, 10, 0, 0.1, 0, 0, 100, "%");
	sig(b, "BMS_Contactors", 58, 2, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"Open\" 1 \"Precharge\" 2 \"Closed\" 3 \"Welded\"");
	sig(b, "BMS_IsolationFault", 60, 1, 0, 1, 0, 0, 1, "");
	sig(b, "BMS_ChargeRequest", 61, 1, 0, 1, 0, 0, 1, "");

	sim_b_msg(b, 0x121, "BMS_Energy", BUS_PT, 8, 100, "BMS", fill_bms_energy, 0);
	hdr(b);
	sig(b, "BMS_SocDisplay", 16, 8, 0, 0.5, 0, 0, 100, "%");
	sig(b, "BMS_Soh", 24, 8, 0, 0.5, 0, 0, 100, "%");
	sig(b, "BMS_EnergyRemaining", 32, 16, 0, 0.01, 0, 0, 100, "kWh");
	sig(b, "BMS_TimeToFull", 48, 10, 0, 1, 0, 0, 1023, "min");

	sim_b_msg(b, 0x122, "BMS_Limits", BUS_PT, 8, 20, "BMS", fill_bms_limits, 0);
	hdr(b);
	sig(b, "BMS_MaxDischargeCurrent", 16, 12, 0, 1, 0, 0, 1000, "A");
	sig(b, "BMS_MaxChargeCurrent", 28, 12, 0, 1, 0, 0, 1000, "A");
	sig(b, "BMS_MaxDischargePower", 40, 12, 0, 0.1, 0, 0, 409.5, "kW");
	sig(b, "BMS_MaxChargePower", 52, 12, 0, 0.1, 0, 0, 409.5, "kW");

	sim_b_msg(b, 0x123, "BMS_CellStats", BUS_PT, 8, 100, "BMS", fill_bms_cellstats, 0);
	hdr(b);
	sig(b, "BMS_CellVmax", 16, 13, 0, 0.001, 0, 0, 5, "V");
	sig(b, "BMS_CellVmin", 29, 13, 0, 0.001, 0, 0, 5, "V");
	sig(b, "BMS_CellVmaxIndex", 42, 7, 0, 1, 0, 1, EV_CELLS, "");
	sig(b, "BMS_CellVminIndex", 49, 7, 0, 1, 0, 1, EV_CELLS, "");
	sig(b, "BMS_CellVdelta", 56, 8, 0, 0.001, 0, 0, 0.255, "V");

	sim_b_msg(b, 0x124, "BMS_TempStats", BUS_PT, 8, 100, "BMS", fill_bms_tempstats, 0);
	hdr(b);
	sig(b, "BMS_TempMax", 16, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "BMS_TempMin", 24, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "BMS_TempMaxIndex", 32, 6, 0, 1, 0, 1, EV_TEMPS, "");
	sig(b, "BMS_TempMinIndex", 38, 6, 0, 1, 0, 1, EV_TEMPS, "");
	sig(b, "BMS_BalancingActive", 44, 1, 0, 1, 0, 0, 1, "");
	sig(b, "BMS_BalancingCells", 45, 7, 0, 1, 0, 0, EV_CELLS, "");
	sig(b, "BMS_TempAverage", 52, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);

	sim_b_msg(b, 0x125, "BMS_Isolation", BUS_PT, 8, 1000, "BMS", fill_bms_iso, 0);
	hdr(b);
	sig(b, "BMS_IsoResistance", 16, 16, 0, 1, 0, 0, 65535, "kOhm");
	sig(b, "BMS_HvilClosed", 32, 1, 0, 1, 0, 0, 1, "");
	sig(b, "BMS_MainPositiveClosed", 33, 1, 0, 1, 0, 0, 1, "");
	sig(b, "BMS_MainNegativeClosed", 34, 1, 0, 1, 0, 0, 1, "");
	sig(b, "BMS_PrechargeClosed", 35, 1, 0, 1, 0, 0, 1, "");
	sig(b, "BMS_FaultCode", 40, 16, 0, 1, 0, 0, 65535, "");

	unsigned nv = EV_CELLS / EV_CELLS_PER_FRAME;
	sim_b_msg(b, 0x4C0, "BMS_CellVoltages", BUS_PT, 8, 100, "BMS", fill_bms_cells, 0);
	sim_b_msg_comment(b, "All 108 cell voltages every 100 ms: multiplexor value n carries cells "
	                     "4n+1 to 4n+4; the 27 frames are spread evenly over the cycle");
	sim_b_mux(b, "BMS_CellVMux", 0, 8, nv);
	sim_b_counter(b, 8, 4, 0);
	for (unsigned m = 0; m < nv; m++) {
		sim_b_mux_of(b, (int)m);
		for (unsigned k = 0; k < EV_CELLS_PER_FRAME; k++)
			sig(b, sim_b_name(b, "BMS_Cell%03u_V", m * EV_CELLS_PER_FRAME + k + 1), 12 + 13 * k,
			    13, 0, 0.001, 0, 2.5, 4.3, "V");
	}
	unsigned nt = EV_TEMPS / EV_TEMPS_PER_FRAME;
	sim_b_msg(b, 0x4C1, "BMS_CellTemps", BUS_PT, 8, 100, "BMS", fill_bms_temps, 0);
	sim_b_msg_comment(b, "All 48 cell temperature sensors (4 per module) every 100 ms: "
	                     "multiplexor value n carries sensors 6n+1 to 6n+6");
	sim_b_mux(b, "BMS_CellTMux", 0, 8, nt);
	sim_b_counter(b, 8, 4, 0);
	for (unsigned m = 0; m < nt; m++) {
		sim_b_mux_of(b, (int)m);
		for (unsigned k = 0; k < EV_TEMPS_PER_FRAME; k++)
			sig(b, sim_b_name(b, "BMS_Temp%02u", m * EV_TEMPS_PER_FRAME + k + 1), 16 + 8 * k, 8,
			    0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	}
	sim_b_mux_of(b, -1);
}

/* ---- charging, DC-DC, thermal ------------------------------------------------------------ */

static const char VAL_CHG[] = "0 \"Idle\" 1 \"Plugged\" 2 \"Handshake\" 3 \"Charging\" "
                              "4 \"Finishing\" 5 \"Complete\" 6 \"Fault\"";

static void fill_obc(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	/* DC charging only: the on-board charger stays in standby, awake. */
	int plugged = s->drive.phase == PH_CHARGE;
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, plugged ? 1 : 0);
	sim_put(o, t1(s->veh.ambient_mc + 4000));
	sim_put(o, 0);
	sim_put(o, plugged ? 5 : 0);
	sim_put(o, plugged);
}

static void fill_ccu(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int plugged = s->drive.phase == PH_CHARGE;
	int32_t cur_da = ev->charge_power_w > 0 && ev->pack_mv > 0
	                     ? (int32_t)((int64_t)ev->charge_power_w * 10000 / ev->pack_mv)
	                     : 0;
	sim_put(o, plugged && ev->charge_state >= CHG_HANDSHAKE ? ev->pack_mv / 100 : 0);
	sim_put(o, cur_da ? cur_da + nz(s, 3) : 0);
	sim_put(o, ev->charge_state);
	sim_put(o, plugged ? (ev->charge_state >= CHG_HANDSHAKE ? 2 : 1) : 0);
	sim_put(o, plugged ? 2 : 0);
	sim_put(o, plugged ? ev->evse_max_a : 0);
	sim_put(o, ev->charge_power_w / 100);
}

static void fill_dcdc(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int on = precharge_pm(s) >= 1000;
	sim_put(o, on ? 2 : 1);
	sim_put(o, on ? (14100 + nz(s, 30)) / 20 : (12600 + nz(s, 10)) / 20);
	sim_put(o, on ? ev->aux_w * 4 / 14 + nz(s, 2) : 0);
	/* HV side at 94 % efficiency, in 0.02 A */
	sim_put(o, on && ev->pack_mv > 0 ? (int64_t)ev->aux_w * 100000 * 50 / 94 / ev->pack_mv : 0);
	sim_put(o, t1(ev->cool_motor_mc + 5000));
}

static void fill_tms_coolant(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int64_t pack_mc = ev->pack_t_uc / 1000;
	sim_put(o, ev->chiller ? 2 : pack_mc < 10000 ? 3 : 1);
	sim_put(o, t05(ev->cool_batt_mc + nz(s, 100)));
	sim_put(o, t05(ev->cool_batt_mc + (pack_mc - ev->cool_batt_mc) / 3 + nz(s, 100)));
	sim_put(o, t05(ev->cool_motor_mc + nz(s, 100)));
	sim_put(o, t05((ev->mot[0].t_coolant_mc + ev->mot[1].t_coolant_mc) / 2 + nz(s, 100)));
	sim_put(o, ev->pump_batt_pct);
	sim_put(o, ev->pump_motor_pct);
}

static void fill_tms_heatpump(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	int32_t c = ev->compressor_rpm;
	sim_put(o, ev->chiller);
	sim_put(o, ev->heater_w > 0);
	sim_put(o, c ? c + nz(s, 10) : 0);
	sim_put(o, (c ? 800 + c / 12 : 500) + nz(s, 5)); /* 0.02 bar: 16 to 29 bar */
	sim_put(o, (c ? 300 - c / 100 : 450) + nz(s, 3));
	sim_put(o, c ? 30 + c / 200 : 0);
	sim_put(o, ev->heater_w / 100);
}

static void fill_tms_cabin(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ev *ev = &s->ev;
	sim_put(o, ev->blower);
	sim_put(o, t05(ev->cabin_mc + nz(s, 100)));
	sim_put(o, t05(s->veh.ambient_mc + nz(s, 100)));
	sim_put(o, (ev->setpoint_mc - 15000) / 500);
	sim_put(o, s->veh.ambient_mc > ev->setpoint_mc);
	sim_put(o, 0);
	sim_put(o, ev->hvac_w);
}

static void build_energy(struct sim_builder *b)
{
	sim_b_msg(b, 0x18FF50E5u, "OBC_Status", BUS_PT, 8, 100, "OBC", fill_obc, 0);
	sim_b_msg_comment(b, "On-board AC charger (J1939-style 29-bit id, no counter or checksum)");
	sig(b, "OBC_AcVoltage", 0, 16, 0, 0.1, 0, 0, 500, "V");
	sig(b, "OBC_AcCurrent", 16, 16, 0, 0.1, 0, 0, 100, "A");
	sig(b, "OBC_State", 32, 4, 0, 1, 0, 0, 6, "");
	sim_b_vals(b, VAL_CHG);
	sig(b, "OBC_Temp", 40, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "OBC_AcFrequency", 48, 8, 0, 0.25, 0, 0, 63.75, "Hz");
	sig(b, "OBC_PilotDuty", 56, 7, 0, 1, 0, 0, 100, "%");
	sig(b, "OBC_ProximityOk", 63, 1, 0, 1, 0, 0, 1, "");

	sim_b_msg(b, 0x18FF51E5u, "CCU_DcCharge", BUS_PT, 8, 100, "CCU", fill_ccu, 0);
	sim_b_msg_comment(b, "DC charging control unit (CCS): the session as the car sees it");
	sig(b, "CCU_DcVoltage", 0, 16, 0, 0.1, 0, 0, 1000, "V");
	sig(b, "CCU_DcCurrent", 16, 16, 0, 0.1, 0, 0, 600, "A");
	sig(b, "CCU_State", 32, 4, 0, 1, 0, 0, 6, "");
	sim_b_vals(b, VAL_CHG);
	sig(b, "CCU_PlugState", 36, 2, 0, 1, 0, 0, 2, "");
	sim_b_vals(b, "0 \"Unplugged\" 1 \"Plugged\" 2 \"Locked\"");
	sig(b, "CCU_Mode", 38, 2, 0, 1, 0, 0, 2, "");
	sim_b_vals(b, "0 \"None\" 1 \"AC\" 2 \"DC\"");
	sig(b, "CCU_EvseMaxCurrent", 40, 10, 0, 1, 0, 0, 1023, "A");
	sig(b, "CCU_ChargePower", 50, 12, 0, 0.1, 0, 0, 409.5, "kW");

	sim_b_msg(b, 0x140, "DCDC_Status", BUS_PT, 8, 100, "DCDC", fill_dcdc, 0);
	hdr(b);
	sig(b, "DCDC_State", 12, 3, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Standby\" 2 \"Run\" 3 \"Fault\"");
	sig(b, "DCDC_LvVoltage", 16, 10, 0, 0.02, 0, 0, 20.46, "V");
	sig(b, "DCDC_LvCurrent", 26, 10, 0, 0.25, 0, 0, 255.75, "A");
	sig(b, "DCDC_HvCurrent", 36, 10, 0, 0.02, 0, 0, 20.46, "A");
	sig(b, "DCDC_Temp", 46, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);

	sim_b_msg(b, 0x150, "TMS_Coolant", BUS_PT, 8, 100, "TMS", fill_tms_coolant, 0);
	hdr(b);
	sig(b, "TMS_ValveMode", 12, 2, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"Series\" 1 \"Parallel\" 2 \"Chiller\" 3 \"Heater\"");
	sig(b, "TMS_BattInletTemp", 16, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "TMS_BattOutletTemp", 24, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "TMS_MotorInletTemp", 32, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "TMS_MotorOutletTemp", 40, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "TMS_PumpBattDuty", 48, 7, 0, 1, 0, 0, 100, "%");
	sig(b, "TMS_PumpMotorDuty", 55, 7, 0, 1, 0, 0, 100, "%");

	sim_b_msg(b, 0x151, "TMS_HeatPump", BUS_PT, 8, 100, "TMS", fill_tms_heatpump, 0);
	hdr(b);
	sig(b, "TMS_ChillerActive", 12, 1, 0, 1, 0, 0, 1, "");
	sig(b, "TMS_HeaterActive", 13, 1, 0, 1, 0, 0, 1, "");
	sig(b, "TMS_CompressorSpeed", 16, 13, 0, 1, 0, 0, 8191, "rpm");
	sig(b, "TMS_RefrigHighPressure", 29, 11, 0, 0.02, 0, 0, 40.94, "bar");
	sig(b, "TMS_RefrigLowPressure", 40, 10, 0, 0.01, 0, 0, 10.23, "bar");
	sig(b, "TMS_ExvPosition", 50, 7, 0, 1, 0, 0, 100, "%");
	sig(b, "TMS_HeaterPower", 57, 7, 0, 0.1, 0, 0, 12.7, "kW");

	sim_b_msg(b, 0x152, "TMS_Cabin", BUS_PT, 8, 500, "TMS", fill_tms_cabin, 0);
	hdr(b);
	sig(b, "TMS_BlowerLevel", 12, 4, 0, 1, 0, 0, 7, "");
	sig(b, "TMS_CabinTemp", 16, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "TMS_AmbientTemp", 24, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "TMS_Setpoint", 32, 6, 0, 0.5, 15, 15, 31.5, VAL_TEMP_UNIT);
	sig(b, "TMS_AcRequest", 38, 1, 0, 1, 0, 0, 1, "");
	sig(b, "TMS_Recirculation", 39, 1, 0, 1, 0, 0, 1, "");
	sig(b, "TMS_HvacPower", 40, 14, 0, 1, 0, 0, 16383, "W");
}

/* ---- chassis --------------------------------------------------------------------------------- */

static void fill_wheels(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	for (int w = 0; w < 4; w++) {
		int32_t v = s->veh.wheel_mm_s[w];
		sim_put(o, v ? pos((int64_t)v + nz(s, 15)) * 144 / 1250 : 0); /* 0.03125 km/h */
	}
}

static void fill_pulses(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	for (int w = 0; w < 4; w++) /* 96 edges per turn of a 0.34 m wheel */
		sim_put(o, (s->veh.wheel_um[w] * 96 / 2136283) % 1024);
	sim_put(o, s->veh.v_mm_s > 0 ? 1 : 0);
}

static void fill_dynamics(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, ((int64_t)v->yaw_urad_s + nz(s, 1000)) * 57296 / 10000000);
	sim_put(o, v->lat_mm_s2 + nz(s, 20));
	sim_put(o, v->a_mm_s2 + nz(s, 20));
}

static void fill_esp(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, sim_kmh_x100(v->v_mm_s));
	sim_put(o, v->brake_bar_x10 ? pos(v->brake_bar_x10 + nz(s, 2)) : 0);
	sim_put(o, v->v_mm_s == 0 && v->gear == 3);
	sim_put(o, v->v_mm_s == 0);
	sim_put(o, v->brake_pedal_pm > 20 || v->a_mm_s2 < -1300);
	sim_put(o, v->brake_pedal_pm > 20);
	sim_put(o, 85 + nz(s, 2));
}

static void fill_sas(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, 0);
	sim_put(o, (v->steer_cdeg + nz(s, 5)) / 10);
	sim_put(o, v->steer_rate_cdeg_s / 10);
}

static void fill_eps(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	int64_t driver = (int64_t)v->lat_mm_s2 / 10 + nz(s, 3); /* 0.01 Nm: 1 Nm per m/s^2 */
	int lka = v->v_mm_s > 16667;
	sim_put(o, v->gear ? 2 : 1);
	sim_put(o, lka);
	sim_put(o, driver);
	sim_put(o, driver * 8 / 5);
	sim_put(o, sim_abs(driver) * 32 / 100); /* 0.8 A per Nm of assist */
}

static void fill_ibs(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, 1);
	sim_put(o, v->brake_pedal_pm * 250 / 1000);
	sim_put(o, (int64_t)v->friction_n * 34 / 100);
	int64_t regen = v->force_n < 0 ? (int64_t)(-v->force_n - v->friction_n) * 34 / 100 : 0;
	sim_put(o, regen);
	sim_put(o, v->brake_pedal_pm / 10);
}

static void fill_tpms(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	int64_t warm = (int64_t)s->tick / 100 > 1200 ? 1200 : (int64_t)s->tick / 100; /* s */
	int64_t t_mc = v->ambient_mc + warm * 15 + v->v_mm_s / 10;
	for (int w = 0; w < 4; w++) /* 2.5 bar cold, +1 % per 3 K */
		sim_put(o, (2500 + (t_mc - v->ambient_mc) / 120 + w * 20) / 20);
	for (int w = 0; w < 4; w++)
		sim_put(o, t1(t_mc + w * 500));
}

static void fill_lights(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	int blink = (s->now_us / 333333u) % 2u == 0;
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, v->turn == 1 && blink);
	sim_put(o, v->turn == 2 && blink);
	sim_put(o, 0);
	sim_put(o, v->brake_pedal_pm > 20);
	sim_put(o, v->gear != 0);
	sim_put(o, 0);
	sim_put(o, 20000 + ((int64_t)s->veh.odo_start_hm * 7) % 30000 + nz(s, 200));
	sim_put(o, 80);
}

static void fill_doors(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	int charging = s->drive.phase == PH_CHARGE;
	for (int i = 0; i < 6; i++)
		sim_put(o, 0);
	sim_put(o, !charging);
	sim_put(o, charging);
	for (int i = 0; i < 4; i++)
		sim_put(o, 0);
}

static void build_chassis(struct sim_builder *b)
{
	sim_b_msg(b, 0x1A0, "ESP_WheelSpeeds", BUS_CH, 8, 10, "ESP", fill_wheels, 0);
	hdr(b);
	sig(b, "ESP_WheelSpeedFL", 12, 13, 0, 0.03125, 0, 0, 250, "km/h");
	sig(b, "ESP_WheelSpeedFR", 25, 13, 0, 0.03125, 0, 0, 250, "km/h");
	sig(b, "ESP_WheelSpeedRL", 38, 13, 0, 0.03125, 0, 0, 250, "km/h");
	sig(b, "ESP_WheelSpeedRR", 51, 13, 0, 0.03125, 0, 0, 250, "km/h");

	sim_b_msg(b, 0x1A1, "ESP_WheelPulses", BUS_CH, 8, 20, "ESP", fill_pulses, 0);
	hdr(b);
	sig(b, "ESP_WheelPulsesFL", 12, 10, 0, 1, 0, 0, 1023, "");
	sig(b, "ESP_WheelPulsesFR", 22, 10, 0, 1, 0, 0, 1023, "");
	sig(b, "ESP_WheelPulsesRL", 32, 10, 0, 1, 0, 0, 1023, "");
	sig(b, "ESP_WheelPulsesRR", 42, 10, 0, 1, 0, 0, 1023, "");
	sig(b, "ESP_Direction", 52, 2, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"Standstill\" 1 \"Forward\" 2 \"Reverse\" 3 \"Invalid\"");

	sim_b_msg(b, 0x1A2, "ESP_Dynamics", BUS_CH, 8, 10, "ESP", fill_dynamics, 0);
	hdr(b);
	sig(b, "ESP_YawRate", 16, 16, S, 0.01, 0, -100, 100, "deg/s");
	sig(b, "ESP_LatAccel", 32, 16, S, 0.001, 0, -15, 15, "m/s2");
	sig(b, "ESP_LongAccel", 48, 16, S, 0.001, 0, -15, 15, "m/s2");

	sim_b_msg(b, 0x1A3, "ESP_Status", BUS_CH, 8, 20, "ESP", fill_esp, 0);
	hdr(b);
	sig(b, "ESP_AbsActive", 12, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_TcsActive", 13, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_EspActive", 14, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_EspOff", 15, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_VehicleSpeed", 16, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, "ESP_BrakePressure", 32, 12, 0, 0.1, 0, 0, 250, "bar");
	sig(b, "ESP_HillHold", 44, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_Standstill", 45, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_BrakeLight", 46, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_BrakeSwitch", 47, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ESP_RoadFriction", 48, 8, 0, 0.01, 0, 0, 1, "");

	sim_b_msg(b, 0x1B0, "SAS_Steering", BUS_CH, 8, 10, "SAS", fill_sas, 0);
	hdr(b);
	sig(b, "SAS_Status", 12, 2, 0, 1, 0, 0, 2, "");
	sim_b_vals(b, "0 \"Ok\" 1 \"Init\" 2 \"Fault\"");
	sig(b, "SAS_Angle", 16, 16, S, 0.1, 0, -780, 780, "deg");
	sig(b, "SAS_Rate", 32, 16, S, 0.1, 0, -2000, 2000, "deg/s");

	sim_b_msg(b, 0x1C0, "EPS_Status", BUS_CH, 8, 10, "EPS", fill_eps, 0);
	hdr(b);
	sig(b, "EPS_State", 12, 3, 0, 1, 0, 0, 4, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Standby\" 2 \"Active\" 3 \"Degraded\" 4 \"Fault\"");
	sig(b, "EPS_LkaActive", 15, 1, 0, 1, 0, 0, 1, "");
	sig(b, "EPS_DriverTorque", 16, 12, S, 0.01, 0, -20, 20, "Nm");
	sig(b, "EPS_AssistTorque", 28, 12, S, 0.05, 0, -100, 100, "Nm");
	sig(b, "EPS_MotorCurrent", 40, 10, 0, 0.2, 0, 0, 200, "A");

	sim_b_msg(b, 0x1D0, "IBS_Brake", BUS_CH, 8, 10, "IBS", fill_ibs, 0);
	hdr(b);
	sig(b, "IBS_State", 12, 3, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Ready\" 2 \"Active\" 3 \"Fault\"");
	sig(b, "IBS_PedalTravel", 16, 8, 0, 0.2, 0, 0, 50, "mm");
	sig(b, "IBS_FrictionTorque", 24, 14, 0, 1, 0, 0, 16383, "Nm");
	sig(b, "IBS_RegenTorque", 38, 14, 0, 1, 0, 0, 16383, "Nm");
	sig(b, "IBS_BoostLevel", 52, 8, 0, 1, 0, 0, 100, "%");

	sim_b_msg(b, 0x2A0, "TPMS_Status", BUS_CH, 8, 1000, "TPMS", fill_tpms, 0);
	sig(b, "TPMS_PressureFL", 0, 8, 0, 0.02, 0, 0, 5.1, "bar");
	sig(b, "TPMS_PressureFR", 8, 8, 0, 0.02, 0, 0, 5.1, "bar");
	sig(b, "TPMS_PressureRL", 16, 8, 0, 0.02, 0, 0, 5.1, "bar");
	sig(b, "TPMS_PressureRR", 24, 8, 0, 0.02, 0, 0, 5.1, "bar");
	sig(b, "TPMS_TempFL", 32, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "TPMS_TempFR", 40, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "TPMS_TempRL", 48, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "TPMS_TempRR", 56, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);

	sim_b_msg(b, 0x2B0, "BCM_Lights", BUS_CH, 8, 100, "BCM", fill_lights, 0);
	hdr(b);
	static const char *const lamps[] = {"BCM_LowBeam", "BCM_HighBeam", "BCM_TurnLeft",
	                                    "BCM_TurnRight", "BCM_Hazard", "BCM_BrakeLight",
	                                    "BCM_DaytimeLights", "BCM_RearFog"};
	for (unsigned i = 0; i < 8; i++) {
		sig(b, lamps[i], 16 + i, 1, 0, 1, 0, 0, 1, "");
		sim_b_vals(b, VAL_ONOFF);
	}
	sig(b, "BCM_AmbientLight", 24, 16, 0, 1, 0, 0, 65535, "lx");
	sig(b, "BCM_DimmerLevel", 40, 8, 0, 1, 0, 0, 100, "%");

	sim_b_msg(b, 0x2B1, "BCM_Doors", BUS_CH, 8, 200, "BCM", fill_doors, 0);
	hdr(b);
	static const char *const doors[] = {"BCM_DoorFL", "BCM_DoorFR", "BCM_DoorRL", "BCM_DoorRR",
	                                    "BCM_Trunk", "BCM_Hood", "BCM_Locked", "BCM_ChargeFlap"};
	for (unsigned i = 0; i < 8; i++)
		sig(b, doors[i], 16 + i, 1, 0, 1, 0, 0, 1, "");
	static const char *const windows[] = {"BCM_WindowFL", "BCM_WindowFR", "BCM_WindowRL",
	                                      "BCM_WindowRR"};
	for (unsigned i = 0; i < 4; i++)
		sig(b, windows[i], 24 + 7 * i, 7, 0, 1, 0, 0, 100, "%");
}

/* ---- ADAS ---------------------------------------------------------------------------------------- */

static const char VAL_CLASS[] = "0 \"Point\" 1 \"Car\" 2 \"Truck\" 3 \"Motorcycle\" 4 \"Bicycle\" "
                                "5 \"Pedestrian\" 6 \"Static\" 7 \"Unknown\"";
static const char VAL_PROB[] = "0 \"Invalid\" 1 \"<25%\" 2 \"25%\" 3 \"50%\" 4 \"75%\" 5 \"90%\" "
                               "6 \"99%\" 7 \"99.9%\"";
static const char VAL_DYN[] = "0 \"Moving\" 1 \"Stationary\" 2 \"Oncoming\" 3 \"CrossingLeft\" "
                              "4 \"CrossingRight\" 5 \"Unknown\"";
static const char VAL_MEAS[] = "0 \"Deleted\" 1 \"New\" 2 \"Measured\" 3 \"Predicted\"";

struct sensor_def {
	const char *prefix;
	const char *sender;
	const char *what;
	uint32_t id;
	unsigned period_ms;
	unsigned frames; /* object frames of SIM_OBJS_PER_FRAME */
	int radar;
};

static const struct sensor_def sensors[SEN_COUNT] = {
	[SEN_RADAR_F] = {"RDF", "RDR_F", "front long-range radar", 0x300, 66, 8, 1},
	[SEN_RADAR_FL] = {"RFL", "RDR_FL", "front-left corner radar", 0x310, 50, 4, 1},
	[SEN_RADAR_FR] = {"RFR", "RDR_FR", "front-right corner radar", 0x320, 50, 4, 1},
	[SEN_RADAR_RL] = {"RRL", "RDR_RL", "rear-left corner radar", 0x330, 50, 4, 1},
	[SEN_RADAR_RR] = {"RRR", "RDR_RR", "rear-right corner radar", 0x340, 50, 4, 1},
	[SEN_CAMERA] = {"CAM", "CAM", "front camera", 0x350, 40, 6, 0},
	[SEN_FUSION] = {"FUS", "ADAS", "sensor fusion (ADAS ECU)", 0x380, 50, 6, 0},
};

static void fill_sensor_header(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)mux;
	sim_sensor_measure(s, (enum sim_sensor_id)p);
	const struct sim_sensor *sen = &s->sensor[p];
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, 1);
	sim_put(o, sen->n);
	sim_put(o, sen->cycle);
	sim_put(o, 20 + nz(s, 5) + 5);
	sim_put(o, sim_kmh_x100(v->v_mm_s));
	sim_put(o, (int64_t)v->yaw_urad_s * 57296 / 10000000);
	sim_put(o, (int32_t)(p * 37 % 21) - 10);
	sim_put(o, 0);
	sim_put(o, t1(v->ambient_mc + 25000));
}

static void fill_sensor_objects(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)mux;
	unsigned id = p / 16, frame = p % 16;
	const struct sim_sensor *sen = &s->sensor[id];
	unsigned first = frame * SIM_OBJS_PER_FRAME;
	unsigned valid = sen->n > first ? sen->n - first : 0;
	sim_put(o, valid > SIM_OBJS_PER_FRAME ? SIM_OBJS_PER_FRAME : valid);
	sim_put(o, sen->cycle);
	for (unsigned k = 0; k < SIM_OBJS_PER_FRAME; k++) {
		if (first + k >= sen->n) {
			for (int f = 0; f < 13; f++) /* an empty slot: ProbExist 0 */
				sim_put(o, 0);
			continue;
		}
		const struct sim_obj *ob = &sen->obj[first + k];
		sim_put(o, ob->id);
		sim_put(o, ob->x_mm / 50);
		sim_put(o, ob->y_mm / 50);
		sim_put(o, ob->vx_mm_s / 50);
		sim_put(o, ob->vy_mm_s / 50);
		sim_put(o, sim_clamp(ob->ax_mm_s2, -12800, 12750) / 50);
		if (sensors[id].radar)
			sim_put(o, ((int64_t)ob->rcs_cdb + 6400) / 50);
		else
			sim_put(o, ob->width_mm / 20);
		sim_put(o, ob->cls);
		sim_put(o, ob->prob);
		sim_put(o, ob->dyn);
		sim_put(o, ob->meas);
		sim_put(o, ob->age);
		sim_put(o, ob->length_mm / 200);
	}
}

static void build_sensor(struct sim_builder *b, enum sim_sensor_id sid)
{
	const struct sensor_def *d = &sensors[sid];
	const char *px = d->prefix;
	sim_b_msg(b, d->id, sim_b_name(b, "%s_Header", px), BUS_ADAS, 16, d->period_ms, d->sender,
	          fill_sensor_header, sid);
	sim_b_burst(b, 1 + d->frames);
	sim_b_msg_comment(b, sim_b_name(b, "%s: cycle header; the %u object frames follow it "
	                                   "back to back. Coordinates: x forward from the front "
	                                   "bumper, y to the left", d->what, d->frames));
	hdr(b);
	sig(b, sim_b_name(b, "%s_Status", px), 12, 4, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"Init\" 1 \"Ok\" 2 \"Blocked\" 3 \"Fault\"");
	sig(b, sim_b_name(b, "%s_NumObjects", px), 16, 8, 0, 1, 0, 0, d->frames * SIM_OBJS_PER_FRAME, "");
	sig(b, sim_b_name(b, "%s_MeasCounter", px), 24, 16, 0, 1, 0, 0, 65535, "");
	sig(b, sim_b_name(b, "%s_Latency", px), 40, 8, 0, 1, 0, 0, 255, "ms");
	sig(b, sim_b_name(b, "%s_EgoSpeed", px), 48, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, sim_b_name(b, "%s_EgoYawRate", px), 64, 16, S, 0.01, 0, -100, 100, "deg/s");
	sig(b, sim_b_name(b, "%s_AlignmentAngle", px), 80, 10, S, 0.01, 0, -5.12, 5.11, "deg");
	sig(b, sim_b_name(b, "%s_Interference", px), 90, 1, 0, 1, 0, 0, 1, "");
	sig(b, sim_b_name(b, "%s_Temp", px), 96, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);

	for (unsigned f = 0; f < d->frames; f++) {
		sim_b_msg(b, d->id + 1 + f, sim_b_name(b, "%s_Objects%u", px, f + 1), BUS_ADAS, 64,
		          d->period_ms, d->sender, fill_sensor_objects, sid * 16 + f);
		sim_b_msg_comment(b, sim_b_name(b, "%s: objects %u to %u, nearest first", d->what,
		                                f * SIM_OBJS_PER_FRAME + 1, (f + 1) * SIM_OBJS_PER_FRAME));
		hdr(b);
		sig(b, sim_b_name(b, "%s_Objects%u_Valid", px, f + 1), 12, 4, 0, 1, 0, 0,
		    SIM_OBJS_PER_FRAME, "");
		sig(b, sim_b_name(b, "%s_Objects%u_MeasCounter", px, f + 1), 16, 16, 0, 1, 0, 0, 65535, "");
		for (unsigned k = 0; k < SIM_OBJS_PER_FRAME; k++) {
			unsigned n = f * SIM_OBJS_PER_FRAME + k + 1, o = 32 + 96 * k;
#define OBJ(field) sim_b_name(b, "%s_O%02u_" field, px, n)
			sig(b, OBJ("Id"), o, 8, 0, 1, 0, 0, 255, "");
			sig(b, OBJ("DistX"), o + 8, 13, S, 0.05, 0, -204.8, 204.75, "m");
			sig(b, OBJ("DistY"), o + 21, 11, S, 0.05, 0, -51.2, 51.15, "m");
			sig(b, OBJ("VrelX"), o + 32, 12, S, 0.05, 0, -102.4, 102.35, "m/s");
			sig(b, OBJ("VrelY"), o + 44, 10, S, 0.05, 0, -25.6, 25.55, "m/s");
			sig(b, OBJ("ArelX"), o + 54, 9, S, 0.05, 0, -12.8, 12.75, "m/s2");
			if (d->radar)
				sig(b, OBJ("Rcs"), o + 63, 8, 0, 0.5, -64, -64, 63.5, "dBsm");
			else
				sig(b, OBJ("Width"), o + 63, 8, 0, 0.02, 0, 0, 5.1, "m");
			sig(b, OBJ("Class"), o + 71, 3, 0, 1, 0, 0, 7, "");
			sim_b_vals(b, VAL_CLASS);
			sig(b, OBJ("ProbExist"), o + 74, 3, 0, 1, 0, 0, 7, "");
			sim_b_vals(b, VAL_PROB);
			sig(b, OBJ("DynProp"), o + 77, 3, 0, 1, 0, 0, 5, "");
			sim_b_vals(b, VAL_DYN);
			sig(b, OBJ("MeasState"), o + 80, 2, 0, 1, 0, 0, 3, "");
			sim_b_vals(b, VAL_MEAS);
			sig(b, OBJ("Age"), o + 82, 8, 0, 1, 0, 0, 255, "");
			sig(b, OBJ("Length"), o + 90, 6, 0, 0.2, 0, 0, 12.6, "m");
#undef OBJ
		}
	}
}

static void fill_lanes(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	int multi = s->drive.road != ROAD_URBAN;
	sim_put(o, multi ? 4 : 2);
	sim_put(o, (s->now_us / 40000u) & 0xFFFFu);
	static const int32_t c0[] = {5400, 1800, -1800, -5400};
	int64_t c3 = v->v_mm_s > 1000 ? (int64_t)(v->curv_u - v->curv_prev_u) * 10000000 / v->v_mm_s : 0;
	c3 = sim_clamp(c3, -30000, 30000);
	for (int l = 0; l < 4; l++) {
		int present = multi || l == 1 || l == 2;
		if (!present) {
			for (int f = 0; f < 9; f++)
				sim_put(o, 0);
			continue;
		}
		sim_put(o, (c0[l] - v->lane_offset_mm + nz(s, 20)) / 10);
		sim_put(o, -v->heading_urad / 100 + nz(s, 2));
		sim_put(o, v->curv_u / 4 + nz(s, 5));
		sim_put(o, c3);
		sim_put(o, v->v_mm_s > 0 ? 3 : 2);
		sim_put(o, (l == 0 || l == 3) ? 1 : multi ? 2 : 1);
		sim_put(o, 0);
		sim_put(o, sim_clamp(60 + v->v_mm_s / 800, 0, 127) * 2);
		sim_put(o, 15);
	}
}

static void fill_signs(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	int64_t to_sign = 500000 - (s->veh.odo_um / 1000) % 500000; /* mm; a sign every 500 m */
	int seen = to_sign < 200000;
	sim_put(o, seen ? s->drive.speed_limit_kmh : 0);
	sim_put(o, seen ? 1 : 0);
	sim_put(o, seen ? to_sign / 200 : 0);
	sim_put(o, seen ? 90 + nz(s, 5) : 0);
	sim_put(o, 0);
}

static void fill_acc(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	const struct sim_target *lead = &s->tgt[0];
	int active = s->drive.road == ROAD_HIGHWAY && s->drive.phase == PH_DRIVE && v->v_mm_s > 8333;
	int valid = lead->x_mm < 150000;
	sim_put(o, active ? 2 : 1);
	sim_put(o, active ? v->a_mm_s2 / 5 : 0);
	sim_put(o, active ? sim_kmh_x100(s->drive.cruise_mm_s) / 100 : 0);
	sim_put(o, 3);
	sim_put(o, valid);
	sim_put(o, valid ? lead->x_mm / 100 : 0);
	sim_put(o, valid ? lead->vx_mm_s / 50 : 0);
	sim_put(o, active ? (int64_t)v->force_n * 34 / 100 : 0);
}

static void fill_lka(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	int active = v->v_mm_s > 16667;
	sim_put(o, active ? 2 : 1);
	sim_put(o, active ? -v->lane_offset_mm / 10 : 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, v->lane_offset_mm + nz(s, 10));
	sim_put(o, v->heading_urad / 100);
	sim_put(o, v->curv_u / 2);
}

static void fill_aeb(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_target *lead = &s->tgt[0];
	int64_t ttc = 255;
	if (lead->vx_mm_s < -100)
		ttc = sim_clamp((int64_t)lead->x_mm * 20 / -lead->vx_mm_s, 0, 255);
	sim_put(o, s->veh.v_mm_s > 1400 ? 2 : 1);
	sim_put(o, ttc);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, lead->x_mm < 150000 ? lead->id : 0);
}

static void build_adas(struct sim_builder *b)
{
	build_sensor(b, SEN_RADAR_F);
	build_sensor(b, SEN_RADAR_FL);
	build_sensor(b, SEN_RADAR_FR);
	build_sensor(b, SEN_RADAR_RL);
	build_sensor(b, SEN_RADAR_RR);
	build_sensor(b, SEN_CAMERA);

	sim_b_msg(b, 0x360, "CAM_Lanes", BUS_ADAS, 48, 40, "CAM", fill_lanes, 0);
	sim_b_msg_comment(b, "Lane lines as cubic polynomials y = C0 + C1 x + C2 x^2 + C3 x^3 "
	                     "(vehicle coordinates)");
	hdr(b);
	sig(b, "CAM_LaneCount", 12, 4, 0, 1, 0, 0, 4, "");
	sig(b, "CAM_LaneMeasCounter", 16, 16, 0, 1, 0, 0, 65535, "");
	static const char *const lanes[] = {"LL", "L", "R", "RR"};
	for (unsigned l = 0; l < 4; l++) {
		unsigned o = 32 + 80 * l;
#define LANE(field) sim_b_name(b, "CAM_Lane%s_" field, lanes[l])
		sig(b, LANE("C0"), o, 12, S, 0.01, 0, -20.48, 20.47, "m");
		sig(b, LANE("C1"), o + 12, 12, S, 0.0001, 0, -0.2048, 0.2047, "rad");
		sig(b, LANE("C2"), o + 24, 16, S, 0.000002, 0, -0.065536, 0.065534, "1/m");
		sig(b, LANE("C3"), o + 40, 16, S, 0.00000001, 0, -0.00032768, 0.00032767, "1/m2");
		sig(b, LANE("Quality"), o + 56, 3, 0, 1, 0, 0, 7, "");
		sig(b, LANE("Type"), o + 59, 3, 0, 1, 0, 0, 5, "");
		sim_b_vals(b, "0 \"None\" 1 \"Solid\" 2 \"Dashed\" 3 \"Double\" 4 \"RoadEdge\" 5 \"Curb\"");
		sig(b, LANE("Color"), o + 62, 2, 0, 1, 0, 0, 2, "");
		sim_b_vals(b, "0 \"White\" 1 \"Yellow\" 2 \"Blue\"");
		sig(b, LANE("ViewRange"), o + 64, 8, 0, 0.5, 0, 0, 127.5, "m");
		sig(b, LANE("Width"), o + 72, 5, 0, 0.01, 0, 0, 0.31, "m");
#undef LANE
	}

	sim_b_msg(b, 0x368, "CAM_Signs", BUS_ADAS, 16, 200, "CAM", fill_signs, 0);
	hdr(b);
	sig(b, "CAM_SpeedLimit", 16, 8, 0, 1, 0, 0, 255, "km/h");
	sig(b, "CAM_SignType", 24, 6, 0, 1, 0, 0, 63, "");
	sim_b_vals(b, "0 \"None\" 1 \"SpeedLimit\" 2 \"EndOfLimit\" 3 \"NoPassing\" 4 \"Stop\" "
	              "5 \"Yield\"");
	sig(b, "CAM_SignDistance", 30, 10, 0, 0.2, 0, 0, 204.6, "m");
	sig(b, "CAM_SignConfidence", 40, 7, 0, 1, 0, 0, 100, "%");
	sig(b, "CAM_NoPassing", 47, 1, 0, 1, 0, 0, 1, "");

	build_sensor(b, SEN_FUSION);

	sim_b_msg(b, 0x3A0, "ACC_Control", BUS_ADAS, 16, 20, "ADAS", fill_acc, 0);
	hdr(b);
	sig(b, "ACC_State", 12, 4, 0, 1, 0, 0, 4, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Standby\" 2 \"Active\" 3 \"Override\" 4 \"Fault\"");
	sig(b, "ACC_AccelRequest", 16, 12, S, 0.005, 0, -10, 10, "m/s2");
	sig(b, "ACC_SetSpeed", 28, 8, 0, 1, 0, 0, 255, "km/h");
	sig(b, "ACC_TimeGap", 36, 3, 0, 1, 0, 0, 7, "");
	sig(b, "ACC_TargetValid", 39, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ACC_TargetDistance", 40, 12, 0, 0.1, 0, 0, 409.5, "m");
	sig(b, "ACC_TargetRelSpeed", 52, 12, S, 0.05, 0, -102.4, 102.35, "m/s");
	sig(b, "ACC_WheelTorqueRequest", 64, 16, S, 1, 0, -8000, 8000, "Nm");

	sim_b_msg(b, 0x3A1, "LKA_Control", BUS_ADAS, 16, 20, "ADAS", fill_lka, 0);
	hdr(b);
	sig(b, "LKA_State", 12, 4, 0, 1, 0, 0, 4, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Standby\" 2 \"Active\" 3 \"Override\" 4 \"Fault\"");
	sig(b, "LKA_TorqueRequest", 16, 12, S, 0.01, 0, -3, 3, "Nm");
	sig(b, "LKA_DepartureLeft", 28, 1, 0, 1, 0, 0, 1, "");
	sig(b, "LKA_DepartureRight", 29, 1, 0, 1, 0, 0, 1, "");
	sig(b, "LKA_HandsOffWarning", 30, 1, 0, 1, 0, 0, 1, "");
	sig(b, "LKA_LateralOffset", 32, 12, S, 0.001, 0, -2, 2, "m");
	sig(b, "LKA_HeadingError", 44, 12, S, 0.0001, 0, -0.2, 0.2, "rad");
	sig(b, "LKA_Curvature", 56, 16, S, 0.000002, 0, -0.065536, 0.065534, "1/m");

	sim_b_msg(b, 0x3A2, "AEB_Status", BUS_ADAS, 16, 20, "ADAS", fill_aeb, 0);
	hdr(b);
	sig(b, "AEB_State", 12, 4, 0, 1, 0, 0, 4, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Standby\" 2 \"Armed\" 3 \"Braking\" 4 \"Fault\"");
	sig(b, "AEB_Ttc", 16, 8, 0, 0.05, 0, 0, 12.75, "s");
	sig(b, "AEB_Warning", 24, 2, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"None\" 1 \"Visual\" 2 \"Acoustic\" 3 \"Haptic\"");
	sig(b, "AEB_BrakeRequest", 26, 1, 0, 1, 0, 0, 1, "");
	sig(b, "AEB_PrefillRequest", 27, 1, 0, 1, 0, 0, 1, "");
	sig(b, "AEB_DecelRequest", 28, 12, 0, 0.005, 0, 0, 20, "m/s2");
	sig(b, "AEB_TargetId", 40, 8, 0, 1, 0, 0, 255, "");
}

/* ---- the profile ------------------------------------------------------------------------------------- */

static void build_vcu(struct sim_builder *b)
{
	sim_b_msg(b, 0x0A0, "VCU_DriveCommand", BUS_PT, 8, 10, "VCU", fill_vcu_cmd, 0);
	hdr(b);
	sig(b, "VCU_DriveState", 12, 4, 0, 1, 0, 0, 5, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Standby\" 2 \"Ready\" 3 \"Drive\" 4 \"Charge\" 5 \"Fault\"");
	sig(b, "VCU_TorqueRequestRear", 16, 16, S, 0.1, 0, -400, 400, "Nm");
	sig(b, "VCU_TorqueRequestFront", 32, 16, S, 0.1, 0, -350, 350, "Nm");
	sig(b, "VCU_AccelPedal", 48, 8, 0, 0.4, 0, 0, 100, "%");
	sig(b, "VCU_BrakeSwitch", 56, 1, 0, 1, 0, 0, 1, "");
	sig(b, "VCU_Gear", 57, 3, 0, 1, 0, 0, 4, "");
	sim_b_vals(b, "0 \"P\" 1 \"R\" 2 \"N\" 3 \"D\" 4 \"B\"");
	sig(b, "VCU_RegenLevel", 60, 2, 0, 1, 0, 0, 3, "");
	sig(b, "VCU_DriveMode", 62, 2, 0, 1, 0, 0, 2, "");
	sim_b_vals(b, "0 \"Eco\" 1 \"Normal\" 2 \"Sport\"");

	sim_b_msg(b, 0x0A1, "VCU_VehicleStatus", BUS_PT, 8, 20, "VCU", fill_vcu_status, 0);
	hdr(b);
	sig(b, "VCU_ReadyLamp", 12, 1, 0, 1, 0, 0, 1, "");
	sig(b, "VCU_ChargePortOpen", 13, 1, 0, 1, 0, 0, 1, "");
	sig(b, "VCU_HvilOk", 14, 1, 0, 1, 0, 0, 1, "");
	sig(b, "VCU_CreepEnabled", 15, 1, 0, 1, 0, 0, 1, "");
	sig(b, "VCU_VehicleSpeed", 16, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, "VCU_Odometer", 32, 24, 0, 0.1, 0, 0, 1677721.5, "km");
	sig(b, "VCU_RangeEstimate", 56, 8, 0, 2, 0, 0, 510, "km");

	sim_b_msg(b, 0x0A2, "VCU_Power", BUS_PT, 8, 100, "VCU", fill_vcu_power, 0);
	hdr(b);
	sig(b, "VCU_AuxPower", 16, 16, 0, 1, 0, 0, 20000, "W");
	sig(b, "VCU_PowerLimitDrive", 32, 12, 0, 0.1, 0, 0, 409.5, "kW");
	sig(b, "VCU_PowerLimitRegen", 44, 12, 0, 0.1, 0, 0, 409.5, "kW");
	sig(b, "VCU_Consumption", 56, 8, 0, 2, 0, 0, 510, "Wh/km");
}

void sim_ev_build(struct sim_builder *b)
{
	sim_b_profile(b, "Battery-electric car with driver assistance (canopy simulator)");
	sim_b_bus(b, "can0", "powertrain", 500000, 0);
	sim_b_bus(b, "can1", "chassis", 500000, 0);
	sim_b_bus(b, "can2", "ADAS", 500000, 2000000);
	build_vcu(b);
	build_drive_unit(b, 0x100, 'R', 0);
	build_drive_unit(b, 0x110, 'F', 1);
	build_bms(b);
	build_energy(b);
	build_chassis(b);
	build_adas(b);
}
