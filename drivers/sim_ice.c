/*
 * Profile "ice": a petrol car of the last decade, six-speed automatic,
 * no driver assistance beyond cruise control.
 *
 *   can0 powertrain, 500 kbit/s: engine, transmission, ABS and steering
 *        angle at 10 to 200 ms.
 *   can1 body, 125 kbit/s: lights, doors, wipers, cluster, climate,
 *        airbag, a gateway's copy of speed and engine speed.
 *
 * Big-endian (Motorola) signals, as many older ECUs use them; a 4-bit (or
 * 2-bit) rolling counter and an 8-bit sum checksum in the last byte on the
 * powertrain messages, none on the body.
 */
#include "drivers/sim_internal.h"

#define S CNP_SIM_SIG_SIGNED
#define M CNP_SIM_SIG_MOTOROLA
#define BUS_PT 0
#define BUS_BODY 1

/* Six-speed gearbox: ratios x100, final drive x100, wheel radius 0.32 m. */
static const int32_t ratio_x100[6] = {415, 237, 156, 116, 86, 69};
#define FINAL_X100 335
#define OUTPUT_RPM_PER_MM_S_X1000000 (298 * FINAL_X100) /* wheel rpm 0.0298 per mm/s */
#define TORQUE_MAX_DNM 2500
#define TANK_NL 50000000000ll

static const char VAL_TEMP_UNIT[] = "degC";

/* ---- physics ---------------------------------------------------------------------- */

void sim_ice_init(struct sim *s)
{
	struct sim_ice *e = &s->ice;
	struct sim_rng *r = &s->world_rng;
	s->par.mass_kg = 1450;
	s->par.cda_cm2 = 6800;
	s->par.crr_ppm = 11000;
	s->par.power_max_w = 70000; /* of 110 kW */
	s->par.accel_max_mm_s2 = 1500;
	s->par.wheel_radius_mm = 320;
	s->par.can_charge = 0;
	int32_t amb = s->veh.ambient_mc;
	int warm = sim_rng_range(r, 0, 1);
	e->coolant_mc = warm ? sim_rng_range(r, 60000, 85000) : amb;
	e->oil_mc = warm ? e->coolant_mc - 5000 : amb;
	e->trans_oil_mc = e->oil_mc;
	e->iat_mc = amb + 5000;
	e->fuel_ul = (int64_t)sim_rng_range(r, 15000, 45000) * 1000000; /* nl */
	e->engine_ms = (int64_t)sim_rng_range(r, 500, 5000) * 3600000;
	e->cabin_mc = warm ? 20000 : amb;
	e->setpoint_mc = 21000;
	e->gear = 1;
	e->gear_target = 1;
	e->rpm = 0;
	e->battery_mv = 12500;
	e->lambda_x1000 = 1000;
}

static void ice_brakes(struct sim *s, int32_t engine_brake_n)
{
	struct sim_vehicle *v = &s->veh;
	int32_t f = v->force_n;
	int stopped = v->v_mm_s == 0 && s->drive.target_mm_s == 0;
	v->friction_n = f < 0 ? (int32_t)sim_clamp((int64_t)-f - engine_brake_n, 0, 100000) : 0;
	v->brake_bar_x10 = v->friction_n / 25 + (stopped && v->gear ? 150 : 0);
	v->brake_pedal_pm = f < 0 ? (int32_t)sim_clamp((int64_t)-f * 1000 / (s->par.mass_kg * 8), 0, 1000)
	                          : (stopped && v->gear ? 200 : 0);
	int64_t fmax = v->v_mm_s > 4000 ? 100000LL * 1000 / v->v_mm_s : 25000;
	if (fmax > 6000)
		fmax = 6000;
	v->pedal_pm = f > 0 ? (int32_t)sim_clamp((int64_t)f * 1000 / fmax, 0, 1000) : 0;
}

void sim_ice_step(struct sim *s)
{
	struct sim_ice *e = &s->ice;
	struct sim_vehicle *v = &s->veh;
	int32_t speed = v->v_mm_s;
	int running = s->now_us >= 800000; /* cranked at 0.5 s, running at 0.8 s */

	/* Gearbox. */
	e->output_rpm = (int32_t)((int64_t)speed * OUTPUT_RPM_PER_MM_S_X1000000 / 1000000);
	if (e->shift_ms > 0) {
		e->shift_ms -= SIM_TICK_US / 1000u;
		if (e->shift_ms == 0)
			e->gear = e->gear_target;
	} else if (speed == 0) {
		e->gear = e->gear_target = 1;
	} else {
		int32_t turbine = e->output_rpm * ratio_x100[e->gear - 1] / 100;
		int32_t up = 1800 + v->pedal_pm * 2;
		if (e->gear < 6 && turbine > up) {
			e->gear_target = e->gear + 1;
			e->shift_ms = 400;
		} else if (e->gear > 1 && (turbine < 1100 || (e->torque_req_dnm > TORQUE_MAX_DNM * 9 / 10 &&
		                                              e->output_rpm * ratio_x100[e->gear - 2] / 100 <
		                                                  up - 300))) {
			/* too slow, or the driver wants more torque than this gear gives */
			e->gear_target = e->gear - 1;
			e->shift_ms = 400;
		}
	}
	e->turbine_rpm = e->output_rpm * ratio_x100[e->gear - 1] / 100;
	e->tcc_locked = speed > 11111 && e->shift_ms == 0 && e->gear >= 3;

	/* Engine torque from the force the wheels need. */
	int64_t total_x10000 = (int64_t)ratio_x100[e->gear - 1] * FINAL_X100;
	int64_t wheel_dnm = (int64_t)v->force_n * 32 / 10;
	int32_t engine_brake_n = 0;
	int64_t req;
	e->fuel_cut = 0;
	if (!running) {
		req = 0;
	} else if (v->force_n >= 0) {
		req = wheel_dnm * 1000000 / (total_x10000 * 92) + 80;
		if (speed == 0 && v->gear)
			req = 150; /* creeping against the brakes */
	} else if (e->rpm > 1300 && speed > 3000) {
		e->fuel_cut = 1;
		req = -250;
		engine_brake_n = (int32_t)(25 * total_x10000 * 92 / 100 / 10000 * 1000 / 320);
	} else {
		req = 80;
	}
	ice_brakes(s, engine_brake_n);
	e->torque_req_dnm = (int32_t)sim_clamp(req, -400, TORQUE_MAX_DNM);
	e->torque_dnm += (e->torque_req_dnm - e->torque_dnm) / 3;

	int32_t idle = e->coolant_mc < 40000 ? 950 : 750;
	int32_t slip = e->tcc_locked ? 20 : 150 + (e->torque_dnm > 0 ? e->torque_dnm / 10 : 0);
	int32_t target = !running ? (s->now_us >= 500000 ? 250 : 0)
	                 : speed == 0 || !v->gear ? idle
	                 : e->turbine_rpm + slip > idle ? e->turbine_rpm + slip : idle;
	e->rpm += (target - e->rpm) / 5;

	int64_t load_pm = e->torque_dnm > 0 ? (int64_t)e->torque_dnm * 1000 / TORQUE_MAX_DNM : 0;
	e->throttle_pm = e->fuel_cut || !running ? 0 : (int32_t)(30 + load_pm * 8 / 10);
	e->map_kpa_x10 = e->fuel_cut ? 200 : running ? (int32_t)(300 + load_pm * 7 / 10) : 1000;
	e->lambda_x1000 = e->fuel_cut ? 4095 : load_pm > 850 ? 880 : 1000;
	int64_t p_w = e->torque_dnm > 0 ? (int64_t)e->torque_dnm * e->rpm * 10472 / 1000000 : 0;
	e->fuel_rate_mlh = e->fuel_cut || !running ? 0 : (int32_t)(700 + p_w * 336 / 1000);
	e->fuel_ul -= (int64_t)e->fuel_rate_mlh * 25 / 9; /* nl per 10 ms */
	if (running)
		e->engine_ms += SIM_TICK_US / 1000u;
	e->battery_mv = running ? 14300 : 12400;

	if (s->tick % SIM_SLOW_TICKS == 0) {
		/* Warm-up towards the thermostat's 90 degC; oil and gearbox lag. */
		int64_t heat = running ? 90000 : s->veh.ambient_mc;
		sim_lag(&e->coolant_mc, heat, running ? 2000 + 2000 * (e->fuel_rate_mlh < 2000) : 6000);
		sim_lag(&e->oil_mc, e->coolant_mc + 5000, 4000);
		sim_lag(&e->trans_oil_mc, e->coolant_mc - 5000, 6000);
		sim_lag(&e->iat_mc, s->veh.ambient_mc + 5000 + (speed < 5000 ? 10000 : 0), 600);
		sim_lag(&e->cabin_mc, e->coolant_mc > 50000 || s->veh.ambient_mc > e->setpoint_mc
		                          ? e->setpoint_mc : e->cabin_mc, 2000);
		e->blower = (int32_t)sim_clamp(1 + sim_abs((int64_t)e->setpoint_mc - e->cabin_mc) / 2500, 1, 7);
		e->ac_on = s->veh.ambient_mc > e->setpoint_mc;
	}
}

/* ---- fills ---------------------------------------------------------------------------- */

static int64_t t1(int64_t mc)
{
	return (mc + 40000) / 1000;
}

static int64_t t05(int64_t mc)
{
	return (mc + 40000) / 500;
}

static int32_t nz(struct sim *s, int32_t amp)
{
	return sim_rng_noise(&s->noise_rng, amp);
}

static int engine_state(const struct sim *s)
{
	return s->now_us < 500000 ? 0 : s->now_us < 800000 ? 1 : 2;
}

static void fill_engine1(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	sim_put(o, (e->rpm + (e->rpm ? nz(s, 3) : 0)) * 4);
	sim_put(o, e->torque_dnm / 5);
	sim_put(o, s->veh.pedal_pm / 4);
	sim_put(o, e->throttle_pm / 4);
	sim_put(o, engine_state(s));
	sim_put(o, s->veh.v_mm_s == 0 && engine_state(s) == 2);
	sim_put(o, e->fuel_cut);
	sim_put(o, s->veh.pedal_pm > 950);
}

static void fill_engine2(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	int cruise = s->drive.road == ROAD_HIGHWAY && s->drive.phase == PH_DRIVE && s->veh.v_mm_s > 11111;
	sim_put(o, e->torque_req_dnm / 5);
	sim_put(o, TORQUE_MAX_DNM / 5);
	sim_put(o, (250 + e->rpm / 20) / 5);
	sim_put(o, cruise);
	sim_put(o, cruise ? sim_kmh_x100(s->drive.cruise_mm_s) / 100 : 0);
}

static void fill_temps(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	sim_put(o, t1(e->coolant_mc + nz(s, 200)));
	sim_put(o, t1(e->oil_mc + nz(s, 200)));
	sim_put(o, t1(e->iat_mc + nz(s, 200)));
	sim_put(o, t05(s->veh.ambient_mc));
	sim_put(o, engine_state(s) == 2 ? (int64_t)(1000 + e->rpm / 2) / 40 + nz(s, 1) : 0);
	sim_put(o, (e->battery_mv + nz(s, 50)) / 100);
}

static void fill_fuel(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	sim_put(o, e->fuel_rate_mlh / 10);
	sim_put(o, e->fuel_cut ? 4095 : e->lambda_x1000 + nz(s, 8));
	sim_put(o, e->map_kpa_x10 + nz(s, 5));
	sim_put(o, e->fuel_ul * 200 / TANK_NL);
}

static void fill_status(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, e->engine_ms / 180000); /* 0.05 h */
	sim_put(o, 0);
	sim_put(o, (int64_t)(15 + e->rpm / 400) * 2 + 128 + nz(s, 1));
}

static void fill_gear(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	int park = s->veh.gear == 0;
	sim_put(o, park ? 8 : e->gear);
	sim_put(o, park ? 8 : e->gear_target);
	sim_put(o, park ? 0 : 3);
	sim_put(o, e->shift_ms > 0);
	sim_put(o, e->tcc_locked);
	sim_put(o, s->veh.v_mm_s ? e->rpm - e->turbine_rpm : 0);
	sim_put(o, e->shift_ms > 0 ? 60 : 0);
}

static void fill_speeds(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	sim_put(o, e->turbine_rpm * 4);
	sim_put(o, e->output_rpm * 4);
	sim_put(o, t1(e->trans_oil_mc));
	sim_put(o, engine_state(s) == 2 ? 60 + e->torque_dnm / 30 : 0);
}

static void fill_abs_wheels(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	for (int w = 0; w < 4; w++) {
		int32_t v = s->veh.wheel_mm_s[w];
		int64_t noisy = (int64_t)v + nz(s, 15);
		sim_put(o, v && noisy > 0 ? sim_kmh_x100(noisy) : 0);
	}
}

static void fill_abs_status(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, sim_kmh_x100(v->v_mm_s));
	sim_put(o, v->brake_bar_x10 > 2 ? v->brake_bar_x10 + nz(s, 2) : v->brake_bar_x10);
	sim_put(o, v->brake_pedal_pm > 20);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, (v->a_mm_s2 + nz(s, 20)) / 40);
	sim_put(o, ((int64_t)v->yaw_urad_s + nz(s, 1000)) * 5730 / 10000000);
}

static void fill_sas(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, (v->steer_cdeg + nz(s, 5)) / 10);
	sim_put(o, v->steer_rate_cdeg_s / 10);
}

static void fill_lights(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	int blink = (s->now_us / 333333u) % 2u == 0;
	sim_put(o, 1);
	sim_put(o, 0);
	sim_put(o, v->turn == 1 && blink);
	sim_put(o, v->turn == 2 && blink);
	sim_put(o, 0);
	sim_put(o, v->brake_pedal_pm > 20);
	sim_put(o, 1);
	sim_put(o, 0);
	sim_put(o, 15000 + ((int64_t)v->odo_start_hm * 7) % 30000 + nz(s, 200));
	sim_put(o, 80);
	sim_put(o, 0);
}

static void fill_doors(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	for (int i = 0; i < 6; i++)
		sim_put(o, 0);
	sim_put(o, s->veh.v_mm_s > 4167 || s->tick > 3000);
	sim_put(o, 0);
	for (int i = 0; i < 4; i++)
		sim_put(o, 0);
}

static void fill_wipers(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	(void)s;
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
}

static void fill_cluster(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_vehicle *v = &s->veh;
	sim_put(o, v->odo_start_hm + v->odo_um / 100000000);
	sim_put(o, s->ice.fuel_ul * 200 / TANK_NL);
	sim_put(o, t05(v->ambient_mc));
	sim_put(o, v->odo_um / 100000000);
	sim_put(o, 12);
}

static void fill_hvac(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	sim_put(o, t05(e->cabin_mc + nz(s, 100)));
	sim_put(o, (e->setpoint_mc - 15000) / 500);
	sim_put(o, e->ac_on);
	sim_put(o, 0);
	sim_put(o, e->blower);
	sim_put(o, 2);
	sim_put(o, e->ac_on);
	sim_put(o, 0);
}

static void fill_gateway(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	const struct sim_ice *e = &s->ice;
	int cruise = s->drive.road == ROAD_HIGHWAY && s->drive.phase == PH_DRIVE && s->veh.v_mm_s > 11111;
	sim_put(o, sim_kmh_x100(s->veh.v_mm_s));
	sim_put(o, e->rpm);
	sim_put(o, s->veh.gear == 0 ? 8 : e->gear);
	sim_put(o, cruise);
	sim_put(o, e->coolant_mc < 60000);
}

static void fill_srs(struct sim *s, struct sim_out *o, unsigned p, unsigned mux)
{
	(void)p, (void)mux;
	(void)s;
	sim_put(o, 1);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
	sim_put(o, 0);
}

/* ---- tables ------------------------------------------------------------------------------ */

static void sig(struct sim_builder *b, const char *name, unsigned start, unsigned size,
                unsigned flags, double factor, double offset, double min, double max,
                const char *unit)
{
	sim_b_sig(b, name, start, size, flags | M, factor, offset, min, max, unit);
}

/* Counter (4 bits at `start`) and the checksum in byte 7. */
static void cnt_ck(struct sim_builder *b, unsigned start, unsigned size)
{
	sim_b_counter(b, start, size, M);
	sim_b_checksum(b, 63, M, CNP_SIM_CK_SUM8);
}

static const char VAL_GEAR[] = "0 \"N\" 1 \"1\" 2 \"2\" 3 \"3\" 4 \"4\" 5 \"5\" 6 \"6\" 7 \"R\" 8 \"P\"";

static void build_powertrain(struct sim_builder *b)
{
	sim_b_msg(b, 0x0B0, "SAS_Steering", BUS_PT, 8, 20, "SAS", fill_sas, 0);
	sig(b, "SAS_Angle", 7, 16, S, 0.1, 0, -780, 780, "deg");
	sig(b, "SAS_Rate", 23, 16, S, 0.1, 0, -2000, 2000, "deg/s");
	cnt_ck(b, 39, 4);

	sim_b_msg(b, 0x0C4, "ECM_Engine1", BUS_PT, 8, 10, "ECM", fill_engine1, 0);
	sig(b, "ECM_EngineSpeed", 7, 16, 0, 0.25, 0, 0, 8000, "rpm");
	sig(b, "ECM_EngineTorque", 23, 12, S, 0.5, 0, -100, 400, "Nm");
	sim_b_counter(b, 27, 4, M);
	sig(b, "ECM_AccelPedal", 39, 8, 0, 0.4, 0, 0, 100, "%");
	sig(b, "ECM_ThrottlePosition", 47, 8, 0, 0.4, 0, 0, 100, "%");
	sig(b, "ECM_EngineState", 55, 3, 0, 1, 0, 0, 3, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Cranking\" 2 \"Running\" 3 \"Stalled\"");
	sig(b, "ECM_IdleActive", 52, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ECM_FuelCut", 51, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ECM_KickDown", 50, 1, 0, 1, 0, 0, 1, "");
	sim_b_checksum(b, 63, M, CNP_SIM_CK_SUM8);

	sim_b_msg(b, 0x0C8, "ECM_Engine2", BUS_PT, 8, 20, "ECM", fill_engine2, 0);
	sig(b, "ECM_TorqueRequest", 7, 12, S, 0.5, 0, -100, 400, "Nm");
	sig(b, "ECM_MaxTorque", 11, 12, 0, 0.5, 0, 0, 500, "Nm");
	sig(b, "ECM_FrictionTorque", 31, 8, 0, 0.5, 0, 0, 127.5, "Nm");
	sig(b, "ECM_CruiseActive", 39, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ECM_CruiseSetSpeed", 47, 8, 0, 1, 0, 0, 255, "km/h");
	cnt_ck(b, 55, 4);

	sim_b_msg(b, 0x130, "TCM_Gear", BUS_PT, 8, 20, "TCM", fill_gear, 0);
	sig(b, "TCM_GearActual", 7, 4, 0, 1, 0, 0, 8, "");
	sim_b_vals(b, VAL_GEAR);
	sig(b, "TCM_GearTarget", 3, 4, 0, 1, 0, 0, 8, "");
	sim_b_vals(b, VAL_GEAR);
	sig(b, "TCM_Selector", 15, 4, 0, 1, 0, 0, 5, "");
	sim_b_vals(b, "0 \"P\" 1 \"R\" 2 \"N\" 3 \"D\" 4 \"S\" 5 \"M\"");
	sig(b, "TCM_ShiftActive", 11, 1, 0, 1, 0, 0, 1, "");
	sig(b, "TCM_TccLocked", 10, 1, 0, 1, 0, 0, 1, "");
	sig(b, "TCM_TccSlip", 23, 16, S, 1, 0, -3000, 3000, "rpm");
	sig(b, "TCM_TorqueReduction", 39, 8, 0, 0.5, 0, 0, 100, "%");
	cnt_ck(b, 55, 4);

	sim_b_msg(b, 0x134, "TCM_Speeds", BUS_PT, 8, 20, "TCM", fill_speeds, 0);
	sig(b, "TCM_TurbineSpeed", 7, 16, 0, 0.25, 0, 0, 10000, "rpm");
	sig(b, "TCM_OutputSpeed", 23, 16, 0, 0.25, 0, 0, 10000, "rpm");
	sig(b, "TCM_OilTemp", 39, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "TCM_LinePressure", 47, 8, 0, 0.1, 0, 0, 25.5, "bar");
	cnt_ck(b, 55, 4);

	sim_b_msg(b, 0x1A0, "ABS_WheelSpeeds", BUS_PT, 8, 20, "ABS", fill_abs_wheels, 0);
	sig(b, "ABS_WheelSpeedFL", 7, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, "ABS_WheelSpeedFR", 23, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, "ABS_WheelSpeedRL", 39, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, "ABS_WheelSpeedRR", 55, 16, 0, 0.01, 0, 0, 250, "km/h");

	sim_b_msg(b, 0x1A4, "ABS_Status", BUS_PT, 8, 20, "ABS", fill_abs_status, 0);
	sig(b, "ABS_VehicleSpeed", 7, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, "ABS_BrakePressure", 23, 12, 0, 0.1, 0, 0, 250, "bar");
	sig(b, "ABS_BrakeSwitch", 27, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ABS_AbsActive", 26, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ABS_TcsActive", 25, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ABS_EspActive", 24, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ABS_LongAccel", 39, 10, S, 0.04, 0, -20.48, 20.44, "m/s2");
	sig(b, "ABS_YawRate", 45, 12, S, 0.1, 0, -204.8, 204.7, "deg/s");
	cnt_ck(b, 49, 2);

	sim_b_msg(b, 0x1F0, "ECM_Temps", BUS_PT, 8, 100, "ECM", fill_temps, 0);
	sig(b, "ECM_CoolantTemp", 7, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "ECM_OilTemp", 15, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "ECM_IntakeAirTemp", 23, 8, 0, 1, -40, -40, 215, VAL_TEMP_UNIT);
	sig(b, "ECM_AmbientTemp", 31, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "ECM_OilPressure", 39, 8, 0, 0.04, 0, 0, 10.2, "bar");
	sig(b, "ECM_BatteryVoltage", 47, 8, 0, 0.1, 0, 0, 25.5, "V");
	cnt_ck(b, 55, 4);

	sim_b_msg(b, 0x1F4, "ECM_Fuel", BUS_PT, 8, 100, "ECM", fill_fuel, 0);
	sig(b, "ECM_FuelRate", 7, 16, 0, 0.01, 0, 0, 655.35, "L/h");
	sig(b, "ECM_Lambda", 23, 12, 0, 0.001, 0, 0, 4.095, "");
	sig(b, "ECM_ManifoldPressure", 27, 12, 0, 0.1, 0, 0, 409.5, "kPa");
	sig(b, "ECM_FuelLevel", 47, 8, 0, 0.5, 0, 0, 100, "%");
	cnt_ck(b, 55, 4);

	sim_b_msg(b, 0x1F8, "ECM_Status", BUS_PT, 8, 200, "ECM", fill_status, 0);
	sig(b, "ECM_Mil", 7, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ECM_StartStopActive", 6, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ECM_Immobilizer", 5, 1, 0, 1, 0, 0, 1, "");
	sig(b, "ECM_EngineHours", 15, 24, 0, 0.05, 0, 0, 838860.75, "h");
	sig(b, "ECM_KnockRetard", 39, 8, 0, 0.1, 0, 0, 25.5, "deg");
	sig(b, "ECM_IgnitionAdvance", 47, 8, 0, 0.5, -64, -64, 63.5, "deg");
	cnt_ck(b, 55, 4);
}

static void build_body(struct sim_builder *b)
{
	sim_b_msg(b, 0x320, "BCM_Lights", BUS_BODY, 6, 100, "BCM", fill_lights, 0);
	static const char *const lamps[] = {"BCM_LowBeam", "BCM_HighBeam", "BCM_TurnLeft",
	                                    "BCM_TurnRight", "BCM_Hazard", "BCM_BrakeLight",
	                                    "BCM_ParkingLights", "BCM_RearFog"};
	for (unsigned i = 0; i < 8; i++) {
		sig(b, lamps[i], 7 - i, 1, 0, 1, 0, 0, 1, "");
		sim_b_vals(b, "0 \"Off\" 1 \"On\"");
	}
	sig(b, "BCM_AmbientLight", 15, 16, 0, 1, 0, 0, 65535, "lx");
	sig(b, "BCM_DimmerLevel", 31, 8, 0, 1, 0, 0, 100, "%");
	sim_b_counter(b, 39, 4, M);
	sig(b, "BCM_InteriorLight", 47, 1, 0, 1, 0, 0, 1, "");

	sim_b_msg(b, 0x324, "BCM_Doors", BUS_BODY, 5, 200, "BCM", fill_doors, 0);
	static const char *const doors[] = {"BCM_DoorFL", "BCM_DoorFR", "BCM_DoorRL", "BCM_DoorRR",
	                                    "BCM_Trunk", "BCM_Hood", "BCM_Locked", "BCM_Alarm"};
	for (unsigned i = 0; i < 8; i++)
		sig(b, doors[i], 7 - i, 1, 0, 1, 0, 0, 1, "");
	static const char *const windows[] = {"BCM_WindowFL", "BCM_WindowFR", "BCM_WindowRL",
	                                      "BCM_WindowRR"};
	for (unsigned i = 0; i < 4; i++)
		sig(b, windows[i], 15 + 8 * i, 7, 0, 1, 0, 0, 100, "%");

	sim_b_msg(b, 0x328, "BCM_Wipers", BUS_BODY, 2, 200, "BCM", fill_wipers, 0);
	sig(b, "BCM_WiperMode", 7, 3, 0, 1, 0, 0, 4, "");
	sim_b_vals(b, "0 \"Off\" 1 \"Interval\" 2 \"Low\" 3 \"High\" 4 \"Auto\"");
	sig(b, "BCM_RainIntensity", 4, 5, 0, 1, 0, 0, 31, "");
	sig(b, "BCM_WasherActive", 15, 1, 0, 1, 0, 0, 1, "");

	sim_b_msg(b, 0x350, "IC_Cluster", BUS_BODY, 8, 200, "IC", fill_cluster, 0);
	sig(b, "IC_Odometer", 7, 24, 0, 0.1, 0, 0, 1677721.5, "km");
	sig(b, "IC_FuelLevel", 31, 8, 0, 0.5, 0, 0, 100, "%");
	sig(b, "IC_OutsideTemp", 39, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "IC_TripA", 47, 16, 0, 0.1, 0, 0, 6553.5, "km");
	sig(b, "IC_ServiceDue", 63, 8, 0, 10, 0, 0, 2550, "days");

	sim_b_msg(b, 0x360, "HVAC_Status", BUS_BODY, 4, 500, "HVAC", fill_hvac, 0);
	sig(b, "HVAC_CabinTemp", 7, 8, 0, 0.5, -40, -40, 87.5, VAL_TEMP_UNIT);
	sig(b, "HVAC_Setpoint", 15, 6, 0, 0.5, 15, 15, 31.5, VAL_TEMP_UNIT);
	sig(b, "HVAC_AcOn", 9, 1, 0, 1, 0, 0, 1, "");
	sig(b, "HVAC_Recirculation", 8, 1, 0, 1, 0, 0, 1, "");
	sig(b, "HVAC_Blower", 23, 4, 0, 1, 0, 0, 7, "");
	sig(b, "HVAC_AirDistribution", 19, 3, 0, 1, 0, 0, 4, "");
	sim_b_vals(b, "0 \"Face\" 1 \"FaceFeet\" 2 \"Feet\" 3 \"FeetDefrost\" 4 \"Defrost\"");
	sig(b, "HVAC_CompressorRequest", 16, 1, 0, 1, 0, 0, 1, "");
	sig(b, "HVAC_RearDefrost", 31, 1, 0, 1, 0, 0, 1, "");

	sim_b_msg(b, 0x370, "GW_Cluster", BUS_BODY, 5, 100, "GW", fill_gateway, 0);
	sim_b_msg_comment(b, "The gateway's copy of powertrain values for the cluster");
	sig(b, "GW_VehicleSpeed", 7, 16, 0, 0.01, 0, 0, 250, "km/h");
	sig(b, "GW_EngineSpeed", 23, 16, 0, 1, 0, 0, 8000, "rpm");
	sig(b, "GW_GearDisplay", 39, 4, 0, 1, 0, 0, 8, "");
	sim_b_vals(b, VAL_GEAR);
	sig(b, "GW_CruiseIcon", 35, 1, 0, 1, 0, 0, 1, "");
	sig(b, "GW_EngineCold", 34, 1, 0, 1, 0, 0, 1, "");

	sim_b_msg(b, 0x390, "SRS_Status", BUS_BODY, 2, 1000, "SRS", fill_srs, 0);
	sig(b, "SRS_BeltDriver", 7, 1, 0, 1, 0, 0, 1, "");
	sig(b, "SRS_BeltPassenger", 6, 1, 0, 1, 0, 0, 1, "");
	sig(b, "SRS_PassengerOccupied", 5, 1, 0, 1, 0, 0, 1, "");
	sig(b, "SRS_AirbagLamp", 4, 1, 0, 1, 0, 0, 1, "");
	sig(b, "SRS_CrashDetected", 3, 1, 0, 1, 0, 0, 1, "");
	sim_b_counter(b, 15, 4, M);
}

void sim_ice_build(struct sim_builder *b)
{
	sim_b_profile(b, "Petrol car, six-speed automatic (canopy simulator)");
	sim_b_bus(b, "can0", "powertrain", 500000, 0);
	sim_b_bus(b, "can1", "body", 125000, 0);
	build_powertrain(b);
	build_body(b);
}
