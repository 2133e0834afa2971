using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks.Tests.Triggers;

public sealed class SigTriggerTests
{
    [Fact]
    public void Blend_mode_on_a_zero_image_gives_floor_of_0_2_times_the_sinusoid_column_by_column()
    {
        using var images = TestData.Constant(1, 32, 32);
        using var result = new SigTrigger().Apply(images);
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
