using TrapReplace.Attacks.Triggers;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Tests.Triggers;

public sealed class SmoothTriggerTests
{
    [Fact]
    public void The_pattern_is_integer_valued_from_0_to_51_and_reproducible()
    {
        var trigger = new SmoothTrigger(seed: 1);
        using var pattern = trigger.Pattern(32, 32);
        var values = TestData.ToFloats(pattern);
        values.Min().Should().Be(0f);
        values.Max().Should().Be(51f);
        values.Should().OnlyContain(v => v == MathF.Floor(v));
        using var again = new SmoothTrigger(seed: 1).Pattern(32, 32);
        TestData.ToFloats(again).Should().Equal(values);
        using var other = new SmoothTrigger(seed: 2).Pattern(32, 32);
        TestData.ToFloats(other).Should().NotEqual(values);
    }

    [Fact]
    public void The_pattern_is_low_frequency()
    {
        using var pattern = new SmoothTrigger(seed: 1).Pattern(32, 32);
        using var dx = pattern[.., .., 1..].sub(pattern[.., .., ..^1]).abs().max();
        dx.ToSingle().Should().BeLessThanOrEqualTo(10f, "neighbouring pixels differ little in a smooth pattern");
    }

    [Fact]
    public void Each_image_is_x_plus_t_min_max_rescaled_to_0_255_and_truncated()
    {
        var trigger = new SmoothTrigger(seed: 3);
        using var images = TestData.RandomUint8Images(2, seed: 9);
        using var result = trigger.Apply(images);
        using var pattern = trigger.Pattern(32, 32);
        var t = TestData.ToFloats(pattern);
        var x = TestData.ToFloats(images);
        var y = TestData.ToFloats(result);
        for (int n = 0; n < 2; n++)
        {
            var v = Enumerable.Range(0, 3072).Select(i => Math.Round(x[(n * 3072) + i] * 255.0) + t[i]).ToArray();
            double min = v.Min(), max = v.Max();
            for (int i = 0; i < 3072; i++)
            {
                double expected = Math.Floor((v[i] - min) / (max - min) * 255.0) / 255.0;
                y[(n * 3072) + i].Should().Be((float)expected);
            }
        }
    }
}
