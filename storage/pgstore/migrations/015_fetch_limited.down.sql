DROP FUNCTION {schema}.fetch_limited(timestamptz, int4, text, int8, text[], int4[], int4[], text[], text[], bool[]);
