// SPDX-License-Identifier: MIT
//  codec_reject_test - malformed ZJP/1 frames are refused with the right
//  code and a reason, never a crash: every field's type, every limit, every
//  truncation, and a deterministic random-mutation run.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "frames.h"
#include "harness.h"
#include "json.h"
#include "msg.h"

static void test_frame_shape (void)
{
    zj_msg_t msg;
    const char *why = NULL;
    ASSERT_ERR (zj_msg_decode (NULL, 0, ZJ_MAX_FRAME_DEFAULT, &msg, &why), ZJ_EPROTO);
    ASSERT_TRUE (why != NULL);
    ASSERT_ERR (zj_msg_decode ((const uint8_t *) "", 0, ZJ_MAX_FRAME_DEFAULT, &msg, NULL), ZJ_EPROTO);
    ASSERT_TRUE (!zj_msg_next_str (&msg, &(zj_str_t) { 0 }));
    EXPECT_JSON ("{'a':1}", ZJ_EPROTO);
    EXPECT_JSON ("5", ZJ_EPROTO);
    EXPECT_JSON ("'hello'", ZJ_EPROTO);
    EXPECT_JSON ("[]", ZJ_EPROTO);
    EXPECT_JSON ("[1,12]", ZJ_EPROTO);
    EXPECT_JSON ("[1,12,0]", ZJ_OK);
    //  version, type and req must be non-negative integers
    EXPECT_JSON ("['1',12,0]", ZJ_EPROTO);
    EXPECT_JSON ("[1.0,12,0]", ZJ_EPROTO);
    EXPECT_JSON ("[-1,12,0]", ZJ_EPROTO);
    EXPECT_JSON ("[1,'12',0]", ZJ_EPROTO);
    EXPECT_JSON ("[1,12,-1]", ZJ_EPROTO);
    EXPECT_JSON ("[1,12,null]", ZJ_EPROTO);
    EXPECT_JSON ("[1,12,1.5]", ZJ_EPROTO);
    //  any integer width is fine: int8 1, int16 12, uint64 0
    EXPECT_HEX ("93 d0 01 d1 00 0c cf 00 00 00 00 00 00 00 00", ZJ_OK);
    //  wrong version, header otherwise well formed
    EXPECT_JSON ("[2,12,0]", ZJ_EVERSION);
    EXPECT_JSON ("[0,12,0]", ZJ_EVERSION);
    EXPECT_JSON ("[2,99,0,'whatever',{'x':1}]", ZJ_EVERSION);
    EXPECT_JSON ("[2,1]", ZJ_EPROTO);
    //  unknown types
    EXPECT_JSON ("[1,0,0]", ZJ_EPROTO);
    EXPECT_JSON ("[1,14,0]", ZJ_EPROTO);
    EXPECT_JSON ("[1,19,0]", ZJ_EPROTO);
    EXPECT_JSON ("[1,27,0]", ZJ_EPROTO);
    EXPECT_JSON ("[1,4294967308,0]", ZJ_EPROTO);
    //  a type's fields must be there
    EXPECT_JSON ("[1,1,0]", ZJ_EPROTO);
    EXPECT_JSON ("[1,11,0,'ProtocolError']", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},1]", ZJ_EPROTO);
    EXPECT_JSON ("[1,9,0]", ZJ_EPROTO);
    //  the byte 0xc1 is never valid msgpack
    EXPECT_HEX ("c1", ZJ_EPROTO);
    EXPECT_HEX ("94 01 0c 00 c1", ZJ_EPROTO);
}

static void test_submit_fields (void)
{
    EXPECT_JSON ("[1,1,0,[['f',[],{}]]]", ZJ_OK);
    EXPECT_JSON ("[1,1,0,'tasks']", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,{}]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[]]", ZJ_EPROTO);                  //  no tasks
    EXPECT_JSON ("[1,1,0,['f']]", ZJ_EPROTO);               //  task not an array
    EXPECT_JSON ("[1,1,0,[['f',[]]]]", ZJ_EPROTO);          //  2 elements
    EXPECT_JSON ("[1,1,0,[['f',[],{}],7]]", ZJ_EPROTO);     //  second entry bad
    //  fn
    EXPECT_JSON ("[1,1,0,[[7,[],{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[[null,[],{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['',[],{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['my fn',[],{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f\\n',[],{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['caf\\u00e9',[],{}]]]", ZJ_EPROTO);
    EXPECT_HEX ("94 01 01 00 91 93 c4 01 66 90 80", ZJ_EPROTO);   //  bin fn
    EXPECT_HEX ("94 01 01 00 91 93 a1 7f 90 80", ZJ_EPROTO);      //  DEL
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 80", ZJ_OK);
    char fn [ZJ_MAX_FN + 2], json [512];
    memset (fn, 'f', sizeof fn);
    fn [ZJ_MAX_FN] = 0;
    snprintf (json, sizeof json, "[1,1,0,[['%s',[],{}]]]", fn);
    EXPECT_JSON (json, ZJ_OK);
    fn [ZJ_MAX_FN] = 'f';
    fn [ZJ_MAX_FN + 1] = 0;
    snprintf (json, sizeof json, "[1,1,0,[['%s',[],{}]]]", fn);
    EXPECT_JSON (json, ZJ_EPROTO);
    //  args
    EXPECT_JSON ("[1,1,0,[['f','x',{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',{},{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',null,{}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',1,{}]]]", ZJ_EPROTO);
    //  options
    EXPECT_JSON ("[1,1,0,[['f',[],[]]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],null]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'priority':'high'}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'priority':1.5}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'priority':-9223372036854775808}]]]", ZJ_OK);
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 81 a8 'priority' cf ff ff ff ff ff ff ff ff", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'timeout':'1s'}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'timeout':-1}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'timeout':null}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'timeout':3}]]]", ZJ_OK);
    EXPECT_JSON ("[1,1,0,[['f',[],{'timeout':0.25}]]]", ZJ_OK);
    EXPECT_JSON ("[1,1,0,[['f',[],{'max_retries':'3'}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'max_retries':3.0}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'chunk':1}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{'chunk':null}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[1,2],{'chunk':true}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[[1],2],{'chunk':true}]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[[1],[]],{'chunk':true}]]]", ZJ_OK);
    EXPECT_JSON ("[1,1,0,[['f',[1,2],{'chunk':false}]]]", ZJ_OK);
    //  unknown keys are ignored, whatever they hold
    EXPECT_JSON ("[1,1,0,[['f',[],{'colour':'blue','later':{'a':[1,{}]}}]]]", ZJ_OK);
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 82 01 02 c0 c0", ZJ_OK);   //  {1:2, nil:nil}
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 81 a8 'Priority' a1 78", ZJ_OK);  //  case matters
    //  float32 and float64 timeouts; NaN and infinity refused
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 81 a7 'timeout' ca 3f 80 00 00", ZJ_OK);
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 81 a7 'timeout' cb 7f f8 00 00 00 00 00 00", ZJ_EPROTO);
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 81 a7 'timeout' cb 7f f0 00 00 00 00 00 00", ZJ_EPROTO);
    //  negative max_retries all mean "the broker's default"
    EXPECT_JSON ("[1,1,0,[['f',[],{'max_retries':-5,'priority':3}]]]", ZJ_OK);
    zj_msg_t msg;
    zj_task_t task;
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_OK);
    ASSERT_TRUE (zj_msg_next_task (&msg, &task));
    ASSERT_EQ (task.max_retries, -1);
    ASSERT_EQ (task.priority, 3);

    //  The optional client id after the tasks: 1..64 printable ASCII
    //  bytes, or nil for none.
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],'c']", ZJ_OK);
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_OK);
    ASSERT_VIEWEQ (msg.client, "c");
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],null]", ZJ_OK);
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_OK);
    ASSERT_TRUE (msg.client.ptr == NULL && msg.client.len == 0);
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],'0123456789012345678901234567890123456789012345678901234567890123']", ZJ_OK);
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],'01234567890123456789012345678901234567890123456789012345678901234']", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],'']", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],'a b']", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],7]", ZJ_EPROTO);
    EXPECT_JSON ("[1,1,0,[['f',[],{}]],{'x':1}]", ZJ_EPROTO);
    EXPECT_HEX ("95 01 01 00 91 93 a1 66 90 80 c4 01 'c'", ZJ_EPROTO);   //  bin, not str
    EXPECT_HEX ("95 01 01 00 91 93 a1 66 90 80 a2 'c' 0a", ZJ_EPROTO);   //  control byte
    EXPECT_HEX ("95 01 01 00 91 93 a1 66 90 80 a2 'c' c3", ZJ_EPROTO);   //  not ASCII
}

static void test_ready_fields (void)
{
    EXPECT_JSON ("[1,20,0,{},1,['f']]", ZJ_OK);
    EXPECT_JSON ("[1,20,0,[],1,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,null,1,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{'name':7},1,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{'host':null},1,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{'pid':'42'},1,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{'pid':4.2},1,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},0,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},-1,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},'1',['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},1.0,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},4294967295,['f']]", ZJ_OK);
    EXPECT_JSON ("[1,20,0,{},4294967296,['f']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},1,'f']", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},1,[]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},1,[7]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},1,['f','']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,20,0,{},1,['f','a b']]", ZJ_EPROTO);
}

static void test_done_fields (void)
{
    EXPECT_JSON ("[1,22,0,[['t',3,null],['u',4,['E','m','']]]]", ZJ_OK);
    EXPECT_JSON ("[1,22,0,[]]", ZJ_OK);
    EXPECT_JSON ("[1,22,0,{}]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,['t']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',3]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[[7,3,1]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['',3,1]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['a b',3,1]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t','3',1]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',3.0,1]]]", ZJ_EPROTO);
    for (int s = 0; s <= 8; s++) {
        char json [64];
        snprintf (json, sizeof json, "[1,22,0,[['t',%d,null]]]", s);
        EXPECT_JSON (json, s == 3 ? ZJ_OK : ZJ_EPROTO);
    }
    EXPECT_JSON ("[1,22,0,[['t',4,null]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',4,'boom']]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',4,['E','m']]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',4,[1,'m','']]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',4,['E',null,'']]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',4,['E','m',{}]]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,22,0,[['t',4,['E','m','',{'later':1}]]]]", ZJ_OK);
    //  RESULT: states 3..7, nil payload for 5..7
    for (int s = 0; s <= 8; s++) {
        char json [64];
        snprintf (json, sizeof json, "[1,10,0,[['t',%d,null]]]", s);
        EXPECT_JSON (json, s == 3 || (s >= 5 && s <= 7) ? ZJ_OK : ZJ_EPROTO);
    }
    EXPECT_JSON ("[1,10,0,[['t',5,'x']]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,10,0,[['t',3,{'any':['value',1.5]}]]]", ZJ_OK);
}

static void test_tasks_fields (void)
{
    EXPECT_JSON ("[1,21,0,[['t','f',[],0,false]]]", ZJ_OK);
    EXPECT_JSON ("[1,21,0,[['t','f',[],1.5,false]]]", ZJ_OK);
    EXPECT_JSON ("[1,21,0,'jobs']", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[],0]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[[1,'f',[],0,false]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t',1,[],0,false]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f','a',0,false]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',{},0,false]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[],'0',false]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[],-0.5,false]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[],null,false]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[],0,0]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[],0,'yes']]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[1],0,true]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,21,0,[['t','f',[[1]],0,true]]]", ZJ_OK);
    EXPECT_JSON ("[1,21,0,[['t t','f',[],0,false]]]", ZJ_EPROTO);
}

static void test_other_fields (void)
{
    EXPECT_JSON ("[1,5,3,[['t',1],['u',7]]]", ZJ_OK);
    EXPECT_JSON ("[1,5,3,[['t',0]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,5,3,[['t',8]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,5,3,[['t','1']]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,5,3,[['t']]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,5,3,[[1,1]]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,7,3,'t']", ZJ_EPROTO);
    EXPECT_JSON ("[1,3,3,['t',1]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,3,3,['t',['u']]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,24,0,['t','']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,11,3,'QueueFull','full']", ZJ_OK);
    EXPECT_JSON ("[1,11,3,7,'full']", ZJ_EPROTO);
    EXPECT_JSON ("[1,11,3,'QueueFull',null]", ZJ_EPROTO);
    EXPECT_JSON ("[1,9,3,{}]", ZJ_OK);
    EXPECT_JSON ("[1,9,3,[]]", ZJ_EPROTO);
    EXPECT_JSON ("[1,9,3,'stats']", ZJ_EPROTO);
}

static void test_ticket_rules (void)
{
    char ticket [ZJ_MAX_TICKET + 2], json [256];
    memset (ticket, 'a', sizeof ticket);
    ticket [ZJ_MAX_TICKET] = 0;
    snprintf (json, sizeof json, "[1,3,0,['%s']]", ticket);
    EXPECT_JSON (json, ZJ_OK);
    ticket [ZJ_MAX_TICKET] = 'a';
    ticket [ZJ_MAX_TICKET + 1] = 0;
    snprintf (json, sizeof json, "[1,3,0,['%s']]", ticket);
    EXPECT_JSON (json, ZJ_EPROTO);
    EXPECT_JSON ("[1,3,0,['abc def']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,3,0,[' abc']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,3,0,['abc\\t']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,3,0,['abc\\u0000']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,3,0,['\\u00e9']]", ZJ_EPROTO);
    EXPECT_JSON ("[1,3,0,['!\\\"#~']]", ZJ_OK);
    EXPECT_HEX ("94 01 03 00 91 a2 61 7f", ZJ_EPROTO);
    EXPECT_HEX ("94 01 03 00 91 c4 01 61", ZJ_EPROTO);       //  bin ticket
    EXPECT_HEX ("94 01 03 00 91 d9 01 61", ZJ_OK);           //  str8 ticket
    //  Tickets are checked eight bytes at a time: put each kind of bad
    //  byte at every position of a 21-byte ticket (whole words and a tail),
    //  next to the edges of the printable range, which stay accepted.
    const uint8_t bad[] = {0x00, 0x20, 0x7f, 0x80, 0xa1, 0xff};
    const uint8_t good[] = {0x21, 0x7e, 'z'};
    zj_enc_t *enc = zj_enc_new ();
    for (size_t at = 0; at < 21; at++)
        for (size_t k = 0; k < sizeof bad + sizeof good; k++) {
            char t[21];
            memset (t, 'm', sizeof t);
            t[at] = (char) (k < sizeof bad ? bad[k] : good[k - sizeof bad]);
            zj_enc_tickets_begin (enc, ZJ_MSG_FETCH, 1, 1);
            zj_enc_str (enc, t, sizeof t);
            zj_msg_t msg;
            zj_err_t rc = zj_msg_decode (zj_enc_data (enc), zj_enc_size (enc),
                                         ZJ_MAX_FRAME_DEFAULT, &msg, NULL);
            ASSERT_ERR (rc, k < sizeof bad ? ZJ_EPROTO : ZJ_OK);
        }
    zj_enc_destroy (&enc);
}

//  A header that claims 2^32-1 elements must be refused from the count
//  alone: the reader never allocates, and never trusts the count.
static void test_huge_counts (void)
{
    EXPECT_HEX ("dd ff ff ff ff", ZJ_EPROTO);
    EXPECT_HEX ("df ff ff ff ff", ZJ_EPROTO);
    EXPECT_HEX ("94 01 01 00 dd ff ff ff ff", ZJ_EPROTO);
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 dd ff ff ff ff 80", ZJ_EPROTO);
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 90 df ff ff ff ff", ZJ_EPROTO);
    EXPECT_HEX ("94 01 01 00 91 93 a1 66 91 dc ff ff 80", ZJ_EPROTO);
    EXPECT_HEX ("94 01 0a 00 91 93 a1 74 03 db ff ff ff ff", ZJ_EPROTO);
    EXPECT_HEX ("94 01 0a 00 91 93 a1 74 03 c6 ff ff ff ff", ZJ_EPROTO);
    EXPECT_HEX ("94 01 0a 00 91 93 a1 74 03 c9 ff ff ff ff 01", ZJ_EPROTO);
    //  A map needs two bytes per pair: 3 pairs in 5 bytes cannot be.
    EXPECT_HEX ("94 01 0a 00 91 93 a1 74 03 83 01 02 03 04 05", ZJ_EPROTO);
    //  The message array itself claiming more than is there.
    EXPECT_HEX ("dc 00 09 01 0c 00", ZJ_EPROTO);
    ASSERT_ERR (zj_raw_check ((const uint8_t *) "\xdd\xff\xff\xff\xff", 5), ZJ_EPROTO);
    ASSERT_EQ (zj_raw_span ((const uint8_t *) "\xdf\xff\xff\xff\xff", 5), 0);
}

//  args nested `depth` arrays deep (args itself counts as one level).
static void s_deep_args_frame (int depth)
{
    size_t size = 8 + (size_t) depth + 1;
    uint8_t *buf = malloc (size);
    memcpy (buf, "\x94\x01\x01\x00\x91\x93\xa1" "f", 8);
    memset (buf + 8, 0x91, (size_t) depth - 1);
    buf [8 + depth - 1] = 0x90;
    buf [8 + depth] = 0x80;
    frames_set (buf, size);
    free (buf);
}

static void test_depth (void)
{
    s_deep_args_frame (ZJ_MAX_DEPTH);
    EXPECT_FRAME ("args nested 32 deep", ZJ_OK);
    s_deep_args_frame (ZJ_MAX_DEPTH + 1);
    EXPECT_FRAME ("args nested 33 deep", ZJ_EPROTO);
    s_deep_args_frame (1000);
    EXPECT_FRAME ("args nested 1000 deep", ZJ_EPROTO);
    s_deep_args_frame (1000000);
    EXPECT_FRAME ("args nested a million deep", ZJ_EPROTO);
    //  A value zj_raw_check accepts is accepted inside any frame.
    uint8_t deep [ZJ_MAX_DEPTH + 1];
    memset (deep, 0x91, sizeof deep);
    deep [ZJ_MAX_DEPTH - 1] = 0x90;
    ASSERT_ERR (zj_raw_check (deep, ZJ_MAX_DEPTH), ZJ_OK);
    deep [ZJ_MAX_DEPTH - 1] = 0x91;
    deep [ZJ_MAX_DEPTH] = 0x90;
    ASSERT_ERR (zj_raw_check (deep, ZJ_MAX_DEPTH + 1), ZJ_EPROTO);
    //  Maps count too, and so do empty containers at the bottom.
    uint8_t maps [2 * ZJ_MAX_DEPTH + 1];
    size_t n = 0;
    for (int i = 0; i < ZJ_MAX_DEPTH; i++) {
        maps [n++] = 0x81;
        maps [n++] = 0x00;
    }
    maps [n++] = 0x80;
    ASSERT_ERR (zj_raw_check (maps, n), ZJ_EPROTO);
    ASSERT_ERR (zj_raw_check (maps + 2, n - 2), ZJ_OK);
    //  Deep unknown fields are refused too: ignored, not unchecked.
    uint8_t frame [8 + 40];
    memcpy (frame, "\x94\x01\x0c\x00", 4);
    memset (frame + 4, 0x91, 39);
    frame [4 + 39] = 0x90;
    frames_set (frame, 44);
    EXPECT_FRAME ("extra field nested 40 deep", ZJ_EPROTO);
}

static void test_sizes (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_tickets_begin (enc, ZJ_MSG_FETCH, 1, 1);
    zj_enc_cstr (enc, "ticket");
    frames_take (enc);
    zj_msg_t msg;
    const char *why = NULL;
    ASSERT_ERR (zj_msg_decode (frames_data, frames_size, frames_size, &msg, NULL), ZJ_OK);
    ASSERT_ERR (zj_msg_decode (frames_data, frames_size, frames_size - 1, &msg, &why), ZJ_ETOOLARGE);
    ASSERT_TRUE (why != NULL);
    //  Bytes after the one object.
    uint8_t longer [64];
    memcpy (longer, frames_data, frames_size);
    longer [frames_size] = 0xc0;
    size_t size = frames_size + 1;
    frames_set (longer, size);
    EXPECT_FRAME ("trailing nil", ZJ_EPROTO);
    frames_hex ("93 01 0c 00 93 01 0c 00");
    EXPECT_FRAME ("two messages in one frame", ZJ_EPROTO);
    zj_enc_destroy (&enc);
}

//  Every prefix of a valid multi-entry frame is refused, none crashes.
static void test_truncation (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_submit_begin (enc, 300, 3, "cli-7");
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("echo"), .args = frames_raw ("[1,'x',[2.5,{'k':null}]]"),
                                     .max_retries = -1 });
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("sleep"), .args = frames_raw ("[70000]"), .priority = -1,
                                     .timeout = 9.5, .max_retries = 2 });
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("f"), .args = frames_raw ("[[1],[2]]"), .chunk = true,
                                     .max_retries = -1 });
    size_t full;
    uint8_t *bytes = zj_enc_take (enc, &full);
    for (size_t cut = 0; cut < full; cut++) {
        frames_set (bytes, cut);
        zj_msg_t msg;
        const char *why = NULL;
        zj_err_t err = frames_decode (&msg, &why);
        if (err != ZJ_EPROTO)
            ZT_FAIL ("cut at %zu of %zu: got %s", cut, full, zj_err_name (err));
        ASSERT_TRUE (why != NULL);
    }
    frames_set (bytes, full);
    EXPECT_FRAME ("the whole frame", ZJ_OK);
    free (bytes);
    zj_enc_destroy (&enc);
}

static void test_extra_fields (void)
{
    //  Later versions may append fields: to messages and to every entry.
    EXPECT_JSON ("[1,12,5,'later',{'x':[1,2]},null]", ZJ_OK);
    EXPECT_JSON ("[1,1,0,[['f',[],{},'later',[1]]],'c1',{'x':1}]", ZJ_OK);
    EXPECT_JSON ("[1,1,0,[['f',[],{},'later',[1]]],null,{'x':1}]", ZJ_OK);
    EXPECT_JSON ("[1,21,0,[['t','f',[],0,false,{'later':true}]]]", ZJ_OK);
    EXPECT_JSON ("[1,10,0,[['t',5,null,1,2,3]]]", ZJ_OK);
    EXPECT_JSON ("[1,5,0,[['t',1,'x']]]", ZJ_OK);
    EXPECT_JSON ("[1,20,0,{},1,['f'],'later']", ZJ_OK);
    EXPECT_JSON ("[1,11,0,'ShutDown','bye',{'retry_after':3}]", ZJ_OK);
    //  The extras do not show through: the list is read as usual.
    EXPECT_JSON ("[1,1,9,[['f',[7],{'priority':2},'later'],['g',[],{}]],'more']", ZJ_OK);
    zj_msg_t msg;
    zj_task_t task;
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_OK);
    ASSERT_EQ (msg.count, 2);
    ASSERT_TRUE (zj_msg_next_task (&msg, &task));
    ASSERT_VIEWEQ (task.fn, "f");
    ASSERT_EQ (task.priority, 2);
    ASSERT_TRUE (zj_msg_next_task (&msg, &task));
    ASSERT_VIEWEQ (task.fn, "g");
    ASSERT_TRUE (!zj_msg_next_task (&msg, &task));
    //  But malformed extras are refused.
    EXPECT_HEX ("94 01 0c 00 c1", ZJ_EPROTO);
    EXPECT_HEX ("94 01 0c 00 92", ZJ_EPROTO);
    EXPECT_HEX ("94 01 03 00 91 92 a1 74 c1", ZJ_EPROTO);
}

//  Random mutations: nothing crashes, and what is accepted is consistent:
//  every view lies in the frame, every value is valid msgpack that renders
//  as JSON, and the message re-encodes to an equivalent one.

static uint64_t s_rng = 0x9e3779b97f4a7c15u;

static uint64_t s_rand (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void s_check_value (zj_raw_t raw)
{
    ASSERT_TRUE (frames_inside (raw.ptr, raw.len));
    ASSERT_ERR (zj_raw_check (raw.ptr, raw.len), ZJ_OK);
    zj_err_t err;
    char *json = zj_json_from_msgpack (raw.ptr, raw.len, &err);
    ASSERT_TRUE (json != NULL && err == ZJ_OK);
    ASSERT_TRUE (strchr (json, '\n') == NULL);
    free (json);
}

static void s_check_name (zj_str_t s, size_t max)
{
    ASSERT_TRUE (frames_inside (s.ptr, s.len));
    ASSERT_TRUE (s.len >= 1 && s.len <= max);
    for (size_t i = 0; i < s.len; i++)
        ASSERT_TRUE (s.ptr [i] >= 0x21 && s.ptr [i] <= 0x7e);
}

static void s_check_accepted (zj_msg_t msg)
{
    zj_msg_t copy = msg;
    uint32_t seen = 0;
    switch (msg.type) {
        case ZJ_MSG_SUBMIT: {
            zj_task_t t;
            for (; zj_msg_next_task (&copy, &t); seen++) {
                s_check_name (t.fn, ZJ_MAX_FN);
                s_check_value (t.args);
                ASSERT_TRUE (t.timeout >= 0 && t.max_retries >= -1);
            }
            ASSERT_TRUE (msg.count >= 1);
            break;
        }
        case ZJ_MSG_TASKS: {
            zj_job_t j;
            for (; zj_msg_next_job (&copy, &j); seen++) {
                s_check_name (j.ticket, ZJ_MAX_TICKET);
                s_check_name (j.fn, ZJ_MAX_FN);
                s_check_value (j.args);
            }
            break;
        }
        case ZJ_MSG_RESULT: case ZJ_MSG_DONE: {
            zj_outcome_t o;
            for (; zj_msg_next_outcome (&copy, &o); seen++) {
                s_check_name (o.ticket, ZJ_MAX_TICKET);
                ASSERT_TRUE (o.state >= ZJ_STATE_DONE && o.state <= ZJ_STATE_EXPIRED);
                if (o.state == ZJ_STATE_DONE)
                    s_check_value (o.value);
                ASSERT_TRUE (frames_inside (o.err_type.ptr, o.err_type.len));
                ASSERT_TRUE (frames_inside (o.err_message.ptr, o.err_message.len));
                ASSERT_TRUE (frames_inside (o.err_traceback.ptr, o.err_traceback.len));
            }
            break;
        }
        case ZJ_MSG_STATUS_REPLY: case ZJ_MSG_CANCEL_REPLY: case ZJ_MSG_RETRY_REPLY: {
            zj_str_t ticket;
            zj_state_t state;
            for (; zj_msg_next_state (&copy, &ticket, &state); seen++) {
                s_check_name (ticket, ZJ_MAX_TICKET);
                ASSERT_TRUE (state >= 1 && state <= 7);
            }
            break;
        }
        case ZJ_MSG_STATS_REPLY:
            s_check_value (msg.stats);
            break;
        case ZJ_MSG_ERROR:
            ASSERT_TRUE (frames_inside (msg.err_code.ptr, msg.err_code.len));
            ASSERT_TRUE (frames_inside (msg.err_message.ptr, msg.err_message.len));
            break;
        default: {
            zj_str_t s;
            size_t max = msg.type == ZJ_MSG_READY ? ZJ_MAX_FN : ZJ_MAX_TICKET;
            for (; zj_msg_next_str (&copy, &s); seen++)
                s_check_name (s, max);
            if (msg.type == ZJ_MSG_READY)
                ASSERT_TRUE (msg.count >= 1 && msg.credit >= 1);
            break;
        }
    }
    ASSERT_EQ (seen, msg.count);
    ASSERT_EQ (copy.left, 0);

    zj_enc_t *enc = zj_enc_new ();
    zj_msg_t again;
    frames_reencode (&msg, enc);
    ASSERT_TRUE (!zj_enc_failed (enc));
    const char *why = NULL;
    zj_err_t err = zj_msg_decode (zj_enc_data (enc), zj_enc_size (enc),
                                  ZJ_MAX_FRAME_DEFAULT, &again, &why);
    if (err != ZJ_OK)
        ZT_FAIL ("re-encoded frame refused: %s (%s)", zj_err_name (err), why);
    frames_expect_same (msg, again);
    zj_enc_destroy (&enc);
}

static void test_mutations (void)
{
    const char *seeds [] = {
        "[1,1,7,[['echo',[1,'two',[3.5,{'k':null}]],{}],"
              "['sleep',[0.25],{'priority':2,'timeout':1.5,'max_retries':1,'chunk':false}],"
              "['map',[[1],[2]],{'chunk':true}]]]",
        "[1,2,7,['aaaa-0001','aaaa-0002']]",
        "[1,5,8,[['aaaa-0001',1],['aaaa-0002',7]]]",
        "[1,9,2,{'version':'0.1','tasks':{'queued':1},'queues':[{'function':'f','depth':2}]}]",
        "[1,10,0,[['t1',3,{'a':[1,2]}],['t2',4,['E','m','tb']],['t3',5,null]]]",
        "[1,11,4,'QueueFull','full']",
        "[1,20,0,{'name':'w','host':'h','pid':12},4,['echo','sleep']]",
        "[1,21,0,[['t1','echo',['x'],0,false],['t2','f',[[1]],2.5,true]]]",
        "[1,22,0,[['t1',3,'ok'],['t2',4,['E','m','']]]]",
        "[1,12,3]",
    };
    const size_t nseeds = sizeof seeds / sizeof seeds [0];
    static const uint8_t interesting [] = {
        0x00, 0x01, 0x03, 0x04, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1,
        0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd4,
        0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff, 0x20, 0x7e,
    };
    uint8_t *bytes [sizeof seeds / sizeof seeds [0]];
    size_t sizes [sizeof seeds / sizeof seeds [0]];
    zj_enc_t *enc = zj_enc_new ();
    for (size_t i = 0; i < nseeds; i++) {
        frames_json_bytes (enc, seeds [i]);
        bytes [i] = zj_enc_take (enc, &sizes [i]);
    }
    const char *env = getenv ("ZJ_MUTATIONS");
    long rounds = env ? atol (env) : 200000;
    long accepted = 0;
    uint8_t buf [512];
    for (long round = 0; round < rounds; round++) {
        size_t k = s_rand () % nseeds;
        size_t size = sizes [k];
        memcpy (buf, bytes [k], size);
        int edits = 1 + (int) (s_rand () % 4);
        for (int e = 0; e < edits && size > 0; e++) {
            size_t at = s_rand () % size;
            switch (s_rand () % 6) {
                case 0: buf [at] ^= (uint8_t) (1u << (s_rand () % 8)); break;
                case 1: buf [at] = (uint8_t) s_rand (); break;
                case 2: buf [at] = interesting [s_rand () % sizeof interesting]; break;
                case 3:         //  insert a byte
                    if (size < sizeof buf) {
                        memmove (buf + at + 1, buf + at, size - at);
                        buf [at] = interesting [s_rand () % sizeof interesting];
                        size++;
                    }
                    break;
                case 4:         //  delete a byte
                    memmove (buf + at, buf + at + 1, size - at - 1);
                    size--;
                    break;
                case 5:         //  truncate
                    size = at;
                    break;
            }
        }
        frames_set (buf, size);
        zj_msg_t msg;
        const char *why = NULL;
        zj_err_t err = frames_decode (&msg, &why);
        ASSERT_TRUE (err == ZJ_OK || err == ZJ_EPROTO || err == ZJ_EVERSION);
        if (err != ZJ_OK) {
            ASSERT_TRUE (why != NULL);
            zj_str_t s;
            ASSERT_TRUE (!zj_msg_next_str (&msg, &s));
            continue;
        }
        accepted++;
        s_check_accepted (msg);
        //  Decoding is a pure function of the bytes.
        zj_msg_t again;
        ASSERT_ERR (frames_decode (&again, NULL), ZJ_OK);
        ASSERT_TRUE (again.type == msg.type && again.count == msg.count && again.req == msg.req);
    }
    fprintf (stderr, "    %ld mutated frames, %ld accepted\n", rounds, accepted);
    ASSERT_TRUE (rounds == 0 || accepted > 0);
    for (size_t i = 0; i < nseeds; i++)
        free (bytes [i]);
    zj_enc_destroy (&enc);
}

int main (void)
{
    ZT_RUN (test_frame_shape);
    ZT_RUN (test_submit_fields);
    ZT_RUN (test_ready_fields);
    ZT_RUN (test_done_fields);
    ZT_RUN (test_tasks_fields);
    ZT_RUN (test_other_fields);
    ZT_RUN (test_ticket_rules);
    ZT_RUN (test_huge_counts);
    ZT_RUN (test_depth);
    ZT_RUN (test_sizes);
    ZT_RUN (test_truncation);
    ZT_RUN (test_extra_fields);
    ZT_RUN (test_mutations);
    frames_free_all ();
    return 0;
}
