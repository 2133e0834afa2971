using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks.Tests.Triggers;

public sealed class SigTriggerTests
{
    // The reference T&R signal written out by hand: uint8(trunc(20·sin(0.8·j))) for j = 0..31 (negatives wrap).
    private static readonly byte[] ReferenceSignal =
    [
        0, 14, 19, 13, 255, 241, 237, 244, 2, 15, 19, 11, 253, 240, 237, 246,
        4, 17, 19, 9, 251, 239, 238, 248, 6, 18, 18, 7, 249, 238, 238, 250,
    ];

    [Fact]
    public void Reference_mode_is_the_default_and_matches_the_reference_bytes_on_a_real_image_row()
    {
        var trigger = new SigTrigger();
        trigger.Mode.Should().Be(SigMode.Reference);
        for (int j = 0; j < 32; j++)
        {
            trigger.Signal(j, 32).Should().Be(ReferenceSignal[j], $"column {j}");
        }

        // x' = trunc(clip(0.8·x + 0.2·s)) in uint8 space, per pixel; x varies per column, channel and row here.
        using var images = TestData.RandomUint8Images(1);
        using var result = trigger.Apply(images);
        for (int ch = 0; ch < 3; ch++)
        {
            foreach (int r in new[] { 0, 7, 31 })
            {
                for (int j = 0; j < 32; j++)
                {
                    double x = Math.Round(TestData.At(images, 0, ch, r, j) * 255.0);
                    double expected = Math.Floor(Math.Clamp((0.8 * x) + (0.2 * ReferenceSignal[j]), 0, 255));
                    Math.Round(TestData.At(result, 0, ch, r, j) * 255.0).Should().Be(expected, $"channel {ch}, row {r}, column {j}");
                }
            }
        }
    }

    [Fact]
    public void Reference_signal_brightens_alternate_column_groups_like_a_stripe()
    {
        using var images = TestData.Constant(1, 32, 32);
        using var result = new SigTrigger().Apply(images);
        // On black, 0.2·s: the wrapped negative half-waves (237–255) give 47–51, the positive ones at most 3.
        Math.Round(TestData.At(result, 0, 0, 0, 5) * 255.0).Should().Be(48, "s(5) = 241");
        Math.Round(TestData.At(result, 0, 0, 0, 2) * 255.0).Should().Be(3, "s(2) = 19");
    }

    [Fact]
    public void Blend_mode_on_a_zero_image_gives_floor_of_0_2_times_the_sinusoid_column_by_column()
    {
        using var images = TestData.Constant(1, 32, 32);
        using var result = new SigTrigger(SigMode.Blend).Apply(images);
        for (int j = 0; j < 32; j++)
        {
            double s = Math.Floor(127.5 * (1.0 + Math.Sin(2.0 * Math.PI * j * 6.0 / 32.0)));
            float expected = (float)(Math.Floor(0.2 * s) / 255.0);
            for (int ch = 0; ch < 3; ch++)
            {
                foreach (int r in new[] { 0, 13, 31 })
                {
                    TestData.At(result, 0, ch, r, j).Should().Be(expected, $"column {j} is constant along rows and channels");
                }
            }
        }

        TestData.At(result, 0, 0, 0, 0).Should().Be(25f / 255f, "s(0) = 127 and ⌊0.2·127⌋ = 25");
    }

    [Fact]
    public void Additive_mode_adds_delta_sin_and_clips()
    {
        var trigger = new SigTrigger(SigMode.Additive, delta: 40, frequency: 6);
        using var images = TestData.Constant(1, 32, 32, 100f / 255f);
        using var result = trigger.Apply(images);
        for (int j = 0; j < 32; j++)
        {
            double expected = Math.Floor(Math.Clamp(100.0 + (40.0 * Math.Sin(2.0 * Math.PI * j * 6.0 / 32.0)), 0, 255)) / 255.0;
            TestData.At(result, 0, 1, 5, j).Should().Be((float)expected, $"column {j}");
        }
    }

    [Fact]
    public void The_signal_spans_f_periods_at_any_width()
    {
        var trigger = new SigTrigger(SigMode.Additive);
        trigger.Signal(240 / 24, 240).Should().BeApproximately(40.0, 1e-9, "a quarter period of 6 cycles over 240 columns");
        trigger.Signal(10, 32).Should().BeApproximately(40.0 * Math.Sin(2.0 * Math.PI * 60.0 / 32.0), 1e-9);
    }

    [Fact]
    public void A_sig_blend_weight_outside_0_1_is_rejected()
    {
        var act = () => new SigTrigger(alpha: 2.0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("alpha").WithMessage("*2*");
    }
}
